package main

import (
	"fmt"
	"io"

	"lab/harness/results"
	"lab/reports"
)

// printDisagreements writes, after the table of a run whose cells ran on
// several providers, the cells whose verdict differs between providers (as
// the report's disagreements section lists them) and returns how many
// differ in the outcome: two providers reached different verdicts about
// the reported failure. It prints nothing for a run on one provider.
func printDisagreements(w io.Writer, cells []*results.Cell) int {
	ds := reports.Disagreements(cells)
	provs := map[string]bool{}
	for _, c := range cells {
		provs[c.Provider] = true
	}
	if len(provs) < 2 {
		return 0
	}
	if len(ds) == 0 {
		fmt.Fprintf(w, "providers agree: every cell that ran on %d providers has the same verdict on each\n", len(provs))
		return 0
	}
	outcome := 0
	fmt.Fprintf(w, "providers disagree on %d cell(s):\n", len(ds))
	for _, d := range ds {
		if d.Kind == reports.DisagreeOutcome {
			outcome++
		}
		fmt.Fprintf(w, "  %-7s %s\n", d.Kind, terminalSafe(d.String(), false))
	}
	return outcome
}
