package main

import (
	"strings"
	"testing"

	"lab/harness/results"
)

func TestPrintDisagreements(t *testing.T) {
	mk := func(provider string, rep bool) *results.Cell {
		c := &results.Cell{Scenario: "dnat-stop-start", Line: 34, Profile: "microk8s-1.32.2", Provider: provider,
			Name: "stop on microk8s-1.32.2", Status: results.Passed, Reproduced: &rep, Expected: "present"}
		c.ID, c.Verdict = c.Key(), results.Verdict(c)
		return c
	}
	var b strings.Builder
	if n := printDisagreements(&b, []*results.Cell{mk("netns", true)}); n != 0 || b.Len() != 0 {
		t.Errorf("one provider: %d, %q", n, b.String())
	}
	if n := printDisagreements(&b, []*results.Cell{mk("netns", true), mk("docker", true)}); n != 0 ||
		!strings.Contains(b.String(), "providers agree") {
		t.Errorf("agreeing providers: %d, %q", n, b.String())
	}
	b.Reset()
	n := printDisagreements(&b, []*results.Cell{mk("netns", true), mk("docker", false)})
	want := "providers disagree on 1 cell(s):\n  outcome dnat-stop-start:34 microk8s-1.32.2: docker=unexpectedly-fixed netns=reproduced\n"
	if n != 1 || b.String() != want {
		t.Errorf("disagreeing providers: %d, %q; want 1, %q", n, b.String(), want)
	}
}
