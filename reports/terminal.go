package reports

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"lab/harness/results"
)

// Terminal writes cells to w as a plain text table (SCENARIO, PROFILE,
// PROVIDER, STATUS, REPRODUCED, OBSERVATIONS) followed by a totals line such
// as "3 passed, 0 failed, 0 errors, 0 skipped". REPRODUCED is yes, no or "-";
// observations are name=value pairs sorted by name, followed for a
// non-passing cell by the first line of its reason. A scenario with several
// cells at the same profile and provider is shown as scenario:L<line>.
// Write errors are ignored, as for fmt.Fprintf to a terminal.
func Terminal(w io.Writer, cells []*results.Cell) {
	sorted := sortedCells(cells)
	dup := map[string]int{}
	coord := func(c *results.Cell) string { return c.Scenario + "\x00" + c.Profile + "\x00" + c.Provider }
	for _, c := range sorted {
		dup[coord(c)]++
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tPROFILE\tPROVIDER\tSTATUS\tVERDICT\tREPRODUCED\tOBSERVATIONS")
	for _, c := range sorted {
		scn := c.Scenario
		if dup[coord(c)] > 1 {
			scn = fmt.Sprintf("%s:L%d", c.Scenario, c.Line)
		}
		var details []string
		for _, kv := range sortedObservations(c.Observations) {
			details = append(details, kv.Name+"="+truncate(kv.Value, 40))
		}
		if c.Status != results.Passed {
			if r := firstLine(reason(c), 80); r != "" {
				details = append(details, "— "+r)
			}
		}
		if c.Attempt > 1 {
			scn = fmt.Sprintf("%s#%d", scn, c.Attempt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			cleanField(scn), cleanField(c.Profile), cleanField(c.Provider),
			cleanField(c.Status), cleanField(c.Verdict), reproText(c.Reproduced, "-"),
			cleanField(strings.Join(details, " ")))
	}
	tw.Flush()
	fmt.Fprintln(w, countStatuses(sorted).String())
}

// cleanField keeps a value on one table line: tabs, newlines and other
// control characters become spaces.
func cleanField(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
