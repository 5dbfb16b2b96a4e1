// Package reports turns stored runs (results.Store: OUT/runs/RUN_ID with
// run.json and one cells/ID.json per attempt) into the lab's published
// artefacts:
//
//   - Site.Publish: a static, self-contained HTML site (inline CSS, no
//     JavaScript, no external URL but links to upstream issues) — the
//     compatibility matrix of the latest (or a chosen) run as index.html,
//     with each cell's history strip and flakiness score, the cells whose
//     verdict changed since their previous run, every run's own matrix
//     under runs/RUN_ID/, a page per cell (steps, observations,
//     environment, evidence, and a go-cmp diff of its rule dumps against a
//     clean cell of the same scenario), nights.html listing every run, an
//     SVG badge per scenario, and per run index.json (RunIndex), junit.xml
//     and results.json;
//   - WriteJSON: every cell as one indented JSON array;
//   - WriteJUnit: JUnit XML, one testsuite per scenario and one testcase
//     per cell, for CI systems;
//   - Terminal: a plain text table with totals for the command line.
//
// Every file is written atomically (results.WriteFileAtomic), so a reader
// sees either the previous report or the new one. All cell data reaching
// HTML goes through html/template and is escaped (step text, errors, rule
// dumps and logs are shown as text, never as markup); the templates live
// in templates/ and are embedded into the binary.
//
// The writers never modify the cells they are given: they work on a sorted
// copy (results.Sort order) and ignore nil entries.
package reports
