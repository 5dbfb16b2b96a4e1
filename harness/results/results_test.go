package results

import (
	"os"
	"path/filepath"
	"testing"
)

func TestVerdict(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		status   string
		rep      *bool
		expected string
		want     string
	}{
		{Passed, &yes, "present", VerdictReproduced},
		{Passed, &no, "absent", VerdictClean},
		{Failed, &yes, "absent", VerdictRegression},
		{Failed, &no, "present", VerdictFixed},
		{Failed, &yes, "present", VerdictFailed}, // presence right, a count wrong
		{Failed, nil, "", VerdictFailed},
		{Error, &yes, "present", VerdictInfra},
		{Skipped, nil, "", VerdictSkipped},
		{Passed, nil, "", VerdictClean},
	} {
		c := &Cell{Status: tc.status, Reproduced: tc.rep, Expected: tc.expected}
		if got := Verdict(c); got != tc.want {
			t.Errorf("Verdict(%s, %v, %q) = %s, want %s", tc.status, tc.rep, tc.expected, got, tc.want)
		}
	}
	for _, v := range Verdicts {
		want := v == VerdictRegression || v == VerdictFixed || v == VerdictFailed || v == VerdictInfra
		if Bad(v) != want {
			t.Errorf("Bad(%s) = %v", v, Bad(v))
		}
	}
}

func TestStoreAtomicRoundTrip(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	c := &Cell{ID: "a.L1.p.netns", Scenario: "a", Status: Passed, Observations: map[string]any{"n": 2}}
	if err := s.Put(c); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(s.Dir, "cells", ".tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A torn write from a killed process must not be read as a cell.
	os.WriteFile(filepath.Join(s.Dir, "cells", ".tmp-b.json-123"), []byte("{"), 0o644)
	cells, err := s.Load()
	if err != nil || len(cells) != 1 || cells[0].Observations["n"] != float64(2) {
		t.Fatalf("Load = %v, %v", cells, err)
	}
}

func TestScenarioMedians(t *testing.T) {
	cells := []*Cell{
		{Scenario: "a", DurationMS: 300}, {Scenario: "a", DurationMS: 100}, {Scenario: "a", DurationMS: 200},
		{Scenario: "b", DurationMS: 400}, {Scenario: "b", DurationMS: 100},
	}
	got := ScenarioMedians(cells)
	if got["a"] != 0.2 || got["b"] != 0.25 || len(got) != 2 {
		t.Errorf("ScenarioMedians = %v; want a 0.2 (odd count), b 0.25 (even: mean of the middle two)", got)
	}
}
