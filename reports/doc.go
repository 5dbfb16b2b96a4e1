// Package reports turns the cells of a run (results.Cell) into the lab's
// published artefacts:
//
//   - WriteSite: a static, self-contained HTML site (inline CSS, no
//     JavaScript, no external URLs) with the compatibility matrix as
//     index.html and one page per cell under cells/;
//   - WriteJSON: every cell as one indented JSON array;
//   - WriteJUnit: JUnit XML, one testsuite per scenario, for CI systems;
//   - Terminal: a plain text table with totals for the command line.
//
// Every file is written atomically (results.WriteFileAtomic), so a reader
// sees either the previous report or the new one. All cell data reaching
// HTML goes through html/template and is escaped; the templates live in
// templates/ and are embedded into the binary.
//
// The writers never modify the slice they are given: they work on a sorted
// copy (results.Sort order) and ignore nil entries.
package reports
