package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRepo: every feature and profile of the repository passes.
func TestCheckRepo(t *testing.T) {
	code, stdout, stderr := lab("check")
	if code != exitOK || !strings.HasPrefix(stdout, "ok: ") {
		t.Fatalf("lab check: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestCheckAndRunReportEveryProblem: lab check and lab run report every
// problem of a feature, one line each with file:line, exit 2.
func TestCheckAndRunReportEveryProblem(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.feature")
	os.WriteFile(f, []byte(`Feature: x
  Scenario Outline: y
    Given a node "node1"
    And the moon is full
    And a pod "web" on "node1" serving HTTP with hostPorts "99999"
    Then observation "x" should be at least abc
    And observation "x" should be "<nope>"
    Examples:
      | profile         |
      | microk8s-1.31.6 |
`), 0o644)
	for _, verb := range []string{"check", "run"} {
		code, _, stderr := lab(verb, f)
		if code != exitUsage {
			t.Errorf("lab %s: exit %d, want 2\n%s", verb, code, stderr)
		}
		for _, want := range []string{"4 problems", "bad.feature:4: undefined step", "bad.feature:5: ", `bad port "99999"`, `bad.feature:6: `, `"abc" is not a number`, "bad.feature:7: unknown placeholder <nope>"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("lab %s: stderr lacks %q:\n%s", verb, want, stderr)
			}
		}
	}
}
