package reports

import (
	"fmt"

	"lab/harness/results"
)

// defaultHistory is how many runs of a cell the history strip shows.
const defaultHistory = 14

// outcome is a run's result of one cell key as the flakiness score sees it.
type outcome int

// Outcomes, after TestGrid's flip analyzer (pass, fail, flaky) plus the
// results it leaves out.
const (
	outcomePass    outcome = iota // every attempt as expected (reproduced or clean)
	outcomeFail                   // regression, unexpectedly-fixed or failed
	outcomeFlaky                  // --repeat attempts disagree: some as expected, some failing
	outcomeIgnored                // infra-error or skipped: says nothing about the cell
)

// outcomeOf classifies one run's group of attempts.
func outcomeOf(g *group) outcome {
	switch {
	case g.Mixed():
		return outcomeFlaky
	case good(g.Verdict):
		return outcomePass
	case g.Verdict == results.VerdictRegression || g.Verdict == results.VerdictFixed || g.Verdict == results.VerdictFailed:
		return outcomeFail
	}
	return outcomeIgnored
}

// ignoreFailuresInARow is the length from which consecutive failures are a
// real (persistent) failure rather than flakes.
const ignoreFailuresInARow = 3

// flakiness scores a cell's history, oldest first, as a percentage 0..100,
// the way the Kubernetes TestGrid flip analyzer does
// (testgrid pkg/summarizer/analyzers/flipanalyzer.go):
//
//  1. drop the ignored outcomes (infra-error, skipped);
//  2. collapse every run of 3 or more consecutive failures: those runs are
//     skipped entirely (neither considered nor flips), because a cell that
//     keeps failing is broken, not flaky;
//  3. walk what is left, starting in the passing state: a failure right
//     after a pass (or at the start) is one flip, a failure after a failure
//     is not; a flaky run (attempts that disagree) is always one flip and
//     leaves the state passing; every walked run is one considered run;
//  4. flakiness = 100 × flips / considered, or 0 when nothing is considered.
//
// So P F P scores 33.3, P F F P 25, P F F F P 0, F P F P 50. The score is
// the same read newest first.
func flakiness(history []outcome) float64 {
	var s []outcome
	for _, o := range history {
		if o != outcomeIgnored {
			s = append(s, o)
		}
	}
	failsFrom := func(i int) int {
		n := 0
		for ; i < len(s) && s[i] == outcomeFail; i++ {
			n++
		}
		return n
	}
	flips, considered := 0, 0
	lastPassing := true
	for i := 0; i < len(s); i++ {
		if n := failsFrom(i); n >= ignoreFailuresInARow {
			i += n
			if i >= len(s) {
				break
			}
		}
		considered++
		switch s[i] {
		case outcomePass:
			lastPassing = true
		case outcomeFlaky:
			flips++
			lastPassing = true
		default:
			if lastPassing {
				flips++
			}
			lastPassing = false
		}
	}
	if considered == 0 {
		return 0
	}
	return 100 * float64(flips) / float64(considered)
}

// historyEntry is one run's result of a key.
type historyEntry struct {
	Run   *runData
	Group *group
}

// keyHistory returns the last n results of key in runs[0..upto], oldest
// first. Runs in which the key did not run are not entries.
func keyHistory(runs []*runData, upto int, key string, n int) []historyEntry {
	var rev []historyEntry
	for i := upto; i >= 0 && len(rev) < n; i-- {
		if g := runs[i].byKey[key]; g != nil {
			rev = append(rev, historyEntry{runs[i], g})
		}
	}
	out := make([]historyEntry, len(rev))
	for i, e := range rev {
		out[len(rev)-1-i] = e
	}
	return out
}

// historyBox is one box of a history strip.
type historyBox struct {
	RunID   string
	Verdict string
	Class   string
	Href    string
	Title   string
	Current bool
}

// strip is a cell's history as shown: boxes oldest first and the
// flakiness score over them.
type strip struct {
	Boxes     []historyBox
	Flakiness float64
}

// FlakyText renders the score ("flaky 33%"), or "" for a stable cell.
func (s strip) FlakyText() string {
	if s.Flakiness <= 0 {
		return ""
	}
	return fmt.Sprintf("flaky %.0f%%", s.Flakiness)
}

// historyStrip lays out the history of key up to run upto; root is the
// relative path from the page to the site root, current the run the page
// shows.
func historyStrip(runs []*runData, upto int, key string, n int, root string) strip {
	var s strip
	var outs []outcome
	for _, e := range keyHistory(runs, upto, key, n) {
		g := e.Group
		outs = append(outs, outcomeOf(g))
		title := fmt.Sprintf("%s: %s", e.Run.Run.ID, g.Label())
		s.Boxes = append(s.Boxes, historyBox{
			RunID:   e.Run.Run.ID,
			Verdict: g.Verdict,
			Class:   verdictClass(g.Verdict),
			Href:    e.Run.cellHref(root, g.Worst),
			Title:   title,
			Current: e.Run == runs[upto],
		})
	}
	s.Flakiness = flakiness(outs)
	return s
}

// change is one cell whose verdict differs from its previous run.
type change struct {
	Key       string
	Title     string
	PrevRun   string
	Prev      string
	PrevClass string
	Now       string
	NowClass  string
	Href      string
	PrevHref  string
}

// changes lists the cells of runs[idx] whose verdict differs from the
// verdict of the same key in the most recent earlier run that ran it (so a
// partial run in between, `lab run` of one scenario, hides nothing). Keys
// never run before are not changes.
func changes(runs []*runData, idx int, root string) []change {
	var out []change
	for _, g := range runs[idx].Groups {
		for j := idx - 1; j >= 0; j-- {
			p := runs[j].byKey[g.Key]
			if p == nil {
				continue
			}
			if p.Verdict != g.Verdict {
				c := g.First()
				out = append(out, change{
					Key:       g.Key,
					Title:     fmt.Sprintf("%s · %s · %s/%s", c.Scenario, rowName(c), c.Profile, c.Provider),
					PrevRun:   runs[j].Run.ID,
					Prev:      p.Verdict,
					PrevClass: verdictClass(p.Verdict),
					Now:       g.Verdict,
					NowClass:  verdictClass(g.Verdict),
					Href:      runs[idx].cellHref(root, g.Worst),
					PrevHref:  runs[j].cellHref(root, p.Worst),
				})
			}
			break
		}
	}
	return out
}
