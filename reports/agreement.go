package reports

import (
	"fmt"
	"sort"
	"strings"

	"lab/harness/results"
)

// Kinds of Disagreement.
const (
	// DisagreeOutcome: two providers reached different verdicts about the
	// reported failure (reproduced, clean, regression, unexpectedly-fixed,
	// failed): the environment is not the only thing the result depends on.
	DisagreeOutcome = "outcome"
	// DisagreeLab: the providers that reached a verdict agree, but another
	// could not reach one (skipped, infra-error).
	DisagreeLab = "lab"
)

// Disagreement is one matrix coordinate (scenario, Examples line, profile)
// whose verdict differs between the providers that ran it.
type Disagreement struct {
	Scenario string `json:"scenario"`
	Line     int    `json:"line"`
	Profile  string `json:"profile"`
	// Name is the outline the cell was expanded from (see the matrix rows).
	Name string `json:"name"`
	// Kind is DisagreeOutcome or DisagreeLab.
	Kind string `json:"kind"`
	// Verdicts is the verdict of every provider that ran the coordinate
	// (the worst of its attempts).
	Verdicts map[string]string `json:"verdicts"`
	// Keys is the cell key of every provider's result.
	Keys map[string]string `json:"keys"`
}

// String renders a disagreement on one line, providers sorted:
// "dnat-stop-start:34 microk8s-1.32.2: docker=clean netns=reproduced".
func (d Disagreement) String() string {
	var parts []string
	for _, p := range sortedKeys(boolSet(d.Verdicts)) {
		parts = append(parts, p+"="+d.Verdicts[p])
	}
	return fmt.Sprintf("%s:%d %s: %s", d.Scenario, d.Line, d.Profile, strings.Join(parts, " "))
}

// coord is one (scenario, Examples line, profile) of a run and the group
// of attempts of every provider that ran it.
type coord struct {
	Scenario string
	Line     int
	Profile  string
	// Providers maps a provider to its group.
	Providers map[string]*group
	// First is the first group seen, which names the coordinate.
	First *group
}

// coords groups a run's groups by coordinate, in the order coordinates
// first appear (results.Sort order puts the providers of one coordinate
// next to each other).
func coords(groups []*group) []*coord {
	var out []*coord
	by := map[string]*coord{}
	for _, g := range groups {
		c := g.First()
		k := fmt.Sprintf("%s\x00%d\x00%s", c.Scenario, c.Line, c.Profile)
		co, ok := by[k]
		if !ok {
			co = &coord{Scenario: c.Scenario, Line: c.Line, Profile: c.Profile, Providers: map[string]*group{}, First: g}
			by[k] = co
			out = append(out, co)
		}
		co.Providers[c.Provider] = g
	}
	return out
}

// providersOf lists the distinct providers of cells, sorted.
func providersOf(cells []*results.Cell) []string {
	return distinct(cells, func(c *results.Cell) string { return c.Provider })
}

// distinct lists the distinct values of field over cells, sorted.
func distinct(cells []*results.Cell, field func(*results.Cell) string) []string {
	set := map[string]bool{}
	for _, c := range cells {
		set[field(c)] = true
	}
	return sortedKeys(set)
}

// resultVerdict reports whether a verdict says something about the
// reported failure (skipped and infra-error do not).
func resultVerdict(v string) bool {
	return v != results.VerdictSkipped && v != results.VerdictInfra
}

// disagreement returns the disagreement of a coordinate, or nil when it ran
// on fewer than two providers or every provider reached the same verdict.
func (co *coord) disagreement() *Disagreement {
	if len(co.Providers) < 2 {
		return nil
	}
	all, outcomes := map[string]bool{}, map[string]bool{}
	d := &Disagreement{Scenario: co.Scenario, Line: co.Line, Profile: co.Profile, Name: rowName(co.First.First()),
		Verdicts: map[string]string{}, Keys: map[string]string{}}
	for p, g := range co.Providers {
		d.Verdicts[p], d.Keys[p] = g.Verdict, g.Key
		all[g.Verdict] = true
		if resultVerdict(g.Verdict) {
			outcomes[g.Verdict] = true
		}
	}
	if len(all) < 2 {
		return nil
	}
	d.Kind = DisagreeLab
	if len(outcomes) > 1 {
		d.Kind = DisagreeOutcome
	}
	return d
}

// disagreements lists the coordinates of a run whose verdict differs
// between providers: outcome disagreements first, then lab ones, each in
// coordinate order. It is never nil.
func disagreements(groups []*group) []Disagreement {
	out := []Disagreement{}
	for _, co := range coords(groups) {
		if d := co.disagreement(); d != nil {
			out = append(out, *d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Kind == DisagreeOutcome && out[j].Kind != DisagreeOutcome
	})
	return out
}

// Disagreements lists the cells whose verdict differs between providers,
// as the site's pages and index.json do: one per (scenario, Examples line,
// profile) that ran on two or more providers with different verdicts (the
// worst attempt of each), outcome disagreements first. The lab's terminal
// summary prints them after a run with several providers.
func Disagreements(cells []*results.Cell) []Disagreement {
	return disagreements(groupAttempts(sortedCells(cells)))
}

// agreementSuite is the JUnit testsuite "provider agreement": one testcase
// per (scenario, Examples line, profile) that ran on two or more providers
// (classname "agreement.<scenario>", name "<outline> [<profile>:
// <providers>]", stable across runs). An outcome disagreement is a
// <failure> whose message lists every provider's verdict; a lab one is
// <skipped> (a provider reached no verdict, which its own testcase reports
// as an error or a skip); agreement passes. It is nil when no coordinate
// ran on two providers.
func agreementSuite(cells []*results.Cell) *junitSuite {
	s := &junitSuite{Name: "provider agreement", Time: seconds(0)}
	for _, co := range coords(groupAttempts(sortedCells(cells))) {
		if len(co.Providers) < 2 {
			continue
		}
		provs := sortedKeys(boolSet(co.Providers))
		c := co.First.First()
		tc := junitCase{ClassName: "agreement." + co.Scenario, Time: seconds(0), File: c.FeatureFile, Line: co.Line,
			Name: fmt.Sprintf("%s [%s: %s]", rowName(c), co.Profile, strings.Join(provs, ", "))}
		if d := co.disagreement(); d != nil {
			msg := "providers disagree: " + d.String()
			if d.Kind == DisagreeOutcome {
				tc.Failure = &junitOutcome{Message: msg, Type: "disagreement", Text: msg}
				s.Failures++
			} else {
				tc.Skipped = &junitSkipped{Message: msg}
				s.Skipped++
			}
		}
		s.Cases = append(s.Cases, tc)
		s.Tests++
	}
	if s.Tests == 0 {
		return nil
	}
	return s
}
