// Package features runs every feature file's cells on the netns provider,
// through the same runner `lab run` uses, and asserts each cell passes (the
// reported failure is present exactly where its Examples row says).
package features

import (
	"context"
	"path/filepath"

	"strings"
	"testing"

	"lab/harness/feature"
	"lab/harness/netns"
	"lab/harness/results"
)

// runCells runs every cell of one feature file and returns the results.
func runCells(t *testing.T, file string, check func(t *testing.T, c *results.Cell)) {
	ft, err := feature.Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	opts := cellOptions(t, "../images")
	for i, c := range ft.Cells {
		t.Run(c.Profile+"/L"+itoa(c.Line), func(t *testing.T) {
			res := opts.Cell(context.Background(), i, c)
			if res.Status != results.Passed {
				var b strings.Builder
				for _, s := range res.Steps {
					b.WriteString("  " + s.Status + " " + s.Keyword + " " + s.Text + " " + s.Error + "\n")
				}
				t.Errorf("cell %s: status %s: %s\nobservations: %v\nsteps:\n%s", res.ID, res.Status, res.Error, res.Observations, b.String())
			}
			left, _ := netns.List(opts.Run.Prefix + "-")
			if len(left) > 0 {
				t.Errorf("namespaces left after the cell: %v", left)
			}
			if check != nil {
				check(t, res)
			}
		})
	}
}

// TestFeatures runs every features/*.feature file.
func TestFeatures(t *testing.T) {
	files, err := filepath.Glob("*.feature")
	if err != nil || len(files) == 0 {
		t.Fatalf("no feature files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(f, ".feature"), func(t *testing.T) { runCells(t, f, nil) })
	}
}
