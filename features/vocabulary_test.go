package features

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/feature"
	"lab/harness/results"
	"lab/scenarios"
)

// TestVocabularyFeatures runs the test features in testdata/: each uses
// steps added for issue 12, written from features/README.md alone, and
// passes `lab check` first.
func TestVocabularyFeatures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.feature")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test features: %v", err)
	}
	if probs, _ := scenarios.NewChecker("../images").Files(files); len(probs) > 0 {
		t.Fatalf("lab check: %v", probs)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".feature"), func(t *testing.T) { runCells(t, f, nil) })
	}
}

// TestCountingAMissingChainIsAnError: a chain that does not exist is a lab
// error naming the chains there are, not a count of 0.
func TestCountingAMissingChainIsAnError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "missing-chain.feature")
	writeFile(t, f, `Feature: f
  Scenario Outline: s on <profile>
    Given a node "node1"
    When I count the jumps in chain "NO-SUCH-CHAIN" of table "nat" on "node1" as "jumps"
    Then observation "jumps" should be "0"
    Examples:
      | profile         |
      | microk8s-1.31.6 |
`)
	ft, err := feature.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	res := cellOptions(t, "../images").Cell(context.Background(), 0, ft.Cells[0])
	if res.Status != results.Error || !strings.Contains(res.Error, "no chain NO-SUCH-CHAIN in table nat") {
		t.Errorf("status %s, error %q; want error naming the missing chain", res.Status, res.Error)
	}
}
