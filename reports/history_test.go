package reports

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"lab/harness/results"
)

func TestFlakiness(t *testing.T) {
	const (
		P = outcomePass
		F = outcomeFail
		X = outcomeFlaky
		I = outcomeIgnored
	)
	for _, tc := range []struct {
		in   []outcome
		want float64
	}{
		{nil, 0},
		{[]outcome{P, P, P}, 0},
		{[]outcome{P, F, P}, 100.0 / 3},      // one flip in three runs
		{[]outcome{F, P, F, P}, 50},          // starts passing: the first F flips
		{[]outcome{P, F, F, P}, 25},          // two failures in a row: one flip, both considered
		{[]outcome{P, F, F, F, P}, 0},        // three in a row: a real failure, collapsed
		{[]outcome{P, F, F, F, F, F, P}, 0},  // longer runs too
		{[]outcome{F, F, F}, 0},              // nothing considered
		{[]outcome{P, F, F, F, P, F, P}, 25}, // the run collapsed, the lone F still a flake: 1 of P P F P
		{[]outcome{P, X, P}, 100.0 / 3},      // disagreeing attempts are a flip
		{[]outcome{X, X}, 100},
		{[]outcome{P, I, F, I, P}, 100.0 / 3}, // infra errors and skips are dropped first
		{[]outcome{I, I}, 0},
		{[]outcome{F, F, I, F, P}, 0}, // dropping I joins the failures into a run of 3
		{[]outcome{F, X, F}, 100},     // F flips, X flips, F after X (passing) flips
	} {
		got := flakiness(tc.in)
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("flakiness(%v) = %v, want %v", tc.in, got, tc.want)
		}
		// Direction does not matter.
		rev := make([]outcome, len(tc.in))
		for i, o := range tc.in {
			rev[len(rev)-1-i] = o
		}
		if r := flakiness(rev); math.Abs(r-got) > 1e-9 {
			t.Errorf("flakiness(reversed %v) = %v, forwards %v", tc.in, r, got)
		}
	}
}

// mkRuns builds runs in memory: verdicts[i] maps keys to one run's verdict
// ("" = not run); "flaky" makes two attempts, clean and regression.
func mkRuns(verdicts ...map[string]string) []*runData {
	var runs []*runData
	for i, vs := range verdicts {
		id := fmt.Sprintf("2026030%dT000000Z-x", i+1)
		var cells []*results.Cell
		for prof, v := range vs {
			c := &results.Cell{ID: results.CellID("s", 1, prof, "netns"), RunID: id, Scenario: "s", Name: "n on " + prof,
				Line: 1, Profile: prof, Provider: "netns", Attempt: 1, Verdict: v, Status: results.Passed}
			if v == "flaky" {
				c.Verdict = results.VerdictClean
				c2 := *c
				c2.ID, c2.Attempt, c2.Verdict = c.ID+".r2", 2, results.VerdictRegression
				cells = append(cells, &c2)
			}
			cells = append(cells, c)
		}
		runs = append(runs, newRunData(&results.Run{ID: id}, cells))
	}
	return runs
}

func TestHistoryStrip(t *testing.T) {
	var nights []map[string]string
	for i := 0; i < 20; i++ {
		v := results.VerdictClean
		if i%5 == 4 {
			v = results.VerdictRegression
		}
		nights = append(nights, map[string]string{"a": v})
	}
	nights[10] = map[string]string{"b": results.VerdictClean} // a partial run without a
	nights[18]["a"] = "flaky"
	runs := mkRuns(nights...)
	key := results.CellID("s", 1, "a", "netns")

	s := historyStrip(runs, 19, key, 14, "../")
	if len(s.Boxes) != 14 {
		t.Fatalf("%d boxes, want 14", len(s.Boxes))
	}
	// Runs 5..19 without 10, oldest first; the last is current.
	if s.Boxes[0].RunID != runs[5].Run.ID || !s.Boxes[13].Current || s.Boxes[12].Current {
		t.Errorf("boxes = %+v", s.Boxes)
	}
	if s.Boxes[13].Class != "v-regression" || !strings.HasPrefix(s.Boxes[13].Href, "../runs/"+runs[19].Run.ID+"/cells/") {
		t.Errorf("last box = %+v", s.Boxes[13])
	}
	if s.Boxes[12].Verdict != results.VerdictRegression || !strings.Contains(s.Boxes[12].Title, "regression · 0/2 reproduced") {
		t.Errorf("repeat box = %+v", s.Boxes[12])
	}
	// Runs 5..19 without 10: P P P P F P P P F P P P X F: 4 flips of 14.
	var outs []outcome
	for _, e := range keyHistory(runs, 19, key, 14) {
		outs = append(outs, outcomeOf(e.Group))
	}
	if outs[12] != outcomeFlaky || math.Abs(s.Flakiness-100*4.0/14) > 1e-9 || s.FlakyText() != "flaky 29%" {
		t.Errorf("outcomes %v, flakiness %v (%q)", outs, s.Flakiness, s.FlakyText())
	}
	// Up to run 2 there are 3 entries only.
	if n := len(historyStrip(runs, 2, key, 14, "").Boxes); n != 3 {
		t.Errorf("%d boxes at run 2", n)
	}
	if (strip{}).FlakyText() != "" {
		t.Error("stable strip has flaky text")
	}
}

func TestChanges(t *testing.T) {
	runs := mkRuns(
		map[string]string{"a": results.VerdictClean, "b": results.VerdictReproduced, "c": results.VerdictClean},
		map[string]string{"a": results.VerdictClean}, // partial run
		map[string]string{"a": results.VerdictRegression, "b": results.VerdictFixed, "c": results.VerdictClean, "d": results.VerdictClean},
	)
	got := changes(runs, 2, "")
	if len(got) != 2 {
		t.Fatalf("changes = %+v", got)
	}
	a, b := got[0], got[1]
	if a.Key != results.CellID("s", 1, "a", "netns") || a.Prev != "clean" || a.Now != "regression" || a.PrevRun != runs[1].Run.ID ||
		a.NowClass != "v-regression" || !strings.HasPrefix(a.Href, "runs/"+runs[2].Run.ID+"/cells/") || !strings.Contains(a.Title, "s · n · a/netns") {
		t.Errorf("a = %+v", a)
	}
	// b skipped the partial run: compared with run 0.
	if b.Prev != "reproduced" || b.Now != "unexpectedly-fixed" || b.PrevRun != runs[0].Run.ID {
		t.Errorf("b = %+v", b)
	}
	if len(changes(runs, 0, "")) != 0 {
		t.Error("the first run has changes")
	}
}

func TestGroupAttempts(t *testing.T) {
	yes, no := true, false
	mk := func(attempt int, v string, rep *bool) *results.Cell {
		return &results.Cell{ID: fmt.Sprint("k", attempt), Scenario: "s", Line: 1, Profile: "p", Provider: "netns",
			Attempt: attempt, Verdict: v, Reproduced: rep}
	}
	gs := groupAttempts([]*results.Cell{
		mk(2, results.VerdictReproduced, &yes), mk(1, results.VerdictReproduced, &yes), mk(3, results.VerdictFixed, &no),
	})
	if len(gs) != 1 {
		t.Fatalf("%d groups", len(gs))
	}
	g := gs[0]
	if g.Verdict != results.VerdictFixed || g.Worst.Attempt != 3 || g.First().Attempt != 1 || g.Label() != "unexpectedly-fixed · 2/3 reproduced" || !g.Mixed() {
		t.Errorf("group = %+v label %q", g, g.Label())
	}
	if outcomeOf(g) != outcomeFlaky {
		t.Error("disagreeing attempts are not flaky")
	}
	// Skipped attempts do not hide a result; infra errors outrank good ones.
	g = groupAttempts([]*results.Cell{mk(1, results.VerdictSkipped, nil), mk(2, results.VerdictClean, &no)})[0]
	if g.Verdict != results.VerdictClean || g.Label() != "clean · 0/2 reproduced" || outcomeOf(g) != outcomePass {
		t.Errorf("skip+clean = %s %q", g.Verdict, g.Label())
	}
	g = groupAttempts([]*results.Cell{mk(1, results.VerdictInfra, nil), mk(2, results.VerdictClean, &no)})[0]
	if g.Verdict != results.VerdictInfra || outcomeOf(g) != outcomeIgnored {
		t.Errorf("infra+clean = %s", g.Verdict)
	}
	// Cells stored before verdicts get one derived.
	g = groupAttempts([]*results.Cell{{Scenario: "s", Status: results.Failed, Reproduced: &yes, Expected: "absent"}})[0]
	if g.Verdict != results.VerdictRegression || g.Label() != "regression" {
		t.Errorf("derived = %s", g.Verdict)
	}
}

func TestIssueLinks(t *testing.T) {
	for tag, want := range map[string]string{
		"@microk8s-4944":   "https://github.com/canonical/microk8s/issues/4944",
		"@k3s-5349":        "https://github.com/k3s-io/k3s/issues/5349",
		"@kubernetes-1234": "https://github.com/kubernetes/kubernetes/issues/1234",
		"@dnat":            "",
		"@calico-12":       "",
		"@microk8s-x":      "",
		"microk8s-4944":    "",
	} {
		if got := issueURL(tag); got != want {
			t.Errorf("issueURL(%q) = %q, want %q", tag, got, want)
		}
	}
	got := tagLinks([]*results.Cell{{Tags: []string{"@microk8s-4944", "@dnat"}}, {Tags: []string{"@dnat", "@k3s-5349"}}})
	if len(got) != 3 || got[0].URL == "" || got[1].URL != "" || got[2].Tag != "@k3s-5349" {
		t.Errorf("tagLinks = %+v", got)
	}
}
