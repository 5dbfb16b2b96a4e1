// Package features runs every feature file's cells on the netns provider,
// through the same runner `lab run` uses, and asserts per cell that it
// passed, that every step ran, and that its verdict and `reproduced` are
// what its Examples row expects (reproduced where the failure should be
// present, clean where absent).
package features

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
			checkVerdict(t, c, res)
			left, _ := netns.List(opts.Run.Prefix + "-")
			if len(left) > 0 {
				t.Errorf("namespaces left after the cell: %v", left)
			}
			if check != nil {
				check(t, res)
			}
		})
	}
	// Every node's init names the node's namespace (with the run's
	// prefix); none, and so nothing running in a node, may outlive the cell.
	// A killed process takes a moment to go on a loaded machine.
	procs := processesMentioning(opts.Run.Prefix + "-")
	for deadline := time.Now().Add(5 * time.Second); len(procs) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		procs = processesMentioning(opts.Run.Prefix + "-")
	}
	if len(procs) > 0 {
		t.Errorf("processes left running after the cells: %v", procs)
	}
}

// expectedFailure is what a cell's steps say of the reported failure:
// "present", "absent", or "" when no step says.
var expectedFailure = regexp.MustCompile(`^the reported failure should be (present|absent)$`)

// expected is what a cell's steps say of the reported failure: "present",
// "absent", or "" when no step says (the last such step wins).
func expected(c feature.Cell) string {
	want := ""
	for _, s := range c.Steps {
		if m := expectedFailure.FindStringSubmatch(s.Text); m != nil {
			want = m[1]
		}
	}
	return want
}

// checkVerdict asserts what a passing status alone does not prove: every
// step of the cell ran and passed (in order), the verdict is the one its
// Examples row expects (reproduced where the failure should be present,
// clean where absent), and reproduced says the same.
func checkVerdict(t *testing.T, c feature.Cell, res *results.Cell) {
	t.Helper()
	if len(res.Steps) != len(c.Steps) {
		t.Errorf("cell %s: %d of %d steps ran", res.ID, len(res.Steps), len(c.Steps))
	}
	for i, s := range res.Steps {
		if s.Status != "passed" {
			t.Errorf("cell %s: step %d %q: %s", res.ID, i+1, s.Text, s.Status)
		}
		if i < len(c.Steps) && s.Text != c.Steps[i].Text {
			t.Errorf("cell %s: step %d ran %q, want %q", res.ID, i+1, s.Text, c.Steps[i].Text)
		}
	}
	switch expected(c) {
	case "present":
		if res.Verdict != results.VerdictReproduced || res.Reproduced == nil || !*res.Reproduced || res.Expected != "present" {
			t.Errorf("cell %s: verdict %s, reproduced %v, expected %q; want reproduced, true, present", res.ID, res.Verdict, fmtBool(res.Reproduced), res.Expected)
		}
	case "absent":
		if res.Verdict != results.VerdictClean || res.Reproduced == nil || *res.Reproduced || res.Expected != "absent" {
			t.Errorf("cell %s: verdict %s, reproduced %v, expected %q; want clean, false, absent", res.ID, res.Verdict, fmtBool(res.Reproduced), res.Expected)
		}
	default:
		if res.Verdict != results.VerdictClean {
			t.Errorf("cell %s: verdict %s, want clean", res.ID, res.Verdict)
		}
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

// processesMentioning lists processes whose command line contains s.
func processesMentioning(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, filepath.Base(filepath.Dir(d))+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
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

// TestReadmeExampleFeature runs the feature features/README.md shows a
// maintainer (three hostPort pods on other ports, written from the docs
// alone, no Go code): the counts are what the mechanism predicts, 3 jumps
// after stop/start on 1.31.6 and 6 on 1.32.2.
func TestReadmeExampleFeature(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```gherkin\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("features/README.md has no gherkin example")
	}
	f := filepath.Join(t.TempDir(), "three-hostports.feature")
	if err := os.WriteFile(f, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"microk8s-1.31.6": "3 false", "microk8s-1.32.2": "6 true"}
	seen := 0
	runCells(t, f, func(t *testing.T, c *results.Cell) {
		seen++
		rep := c.Reproduced != nil && *c.Reproduced
		if got := fmt.Sprint(c.Observations["jumps"], " ", rep); got != want[c.Profile] {
			t.Errorf("%s: jumps and reproduced = %s, want %s", c.Profile, got, want[c.Profile])
		}
	})
	if seen != len(want) {
		t.Errorf("ran %d cells, want %d", seen, len(want))
	}
}
