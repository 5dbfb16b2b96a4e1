package reports

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"lab/harness/results"
)

// verdictOf returns the stored verdict of a cell, or derives it for cells
// stored before verdicts existed (or with an unknown one).
func verdictOf(c *results.Cell) string {
	for _, v := range results.Verdicts {
		if c.Verdict == v {
			return v
		}
	}
	return results.Verdict(c)
}

// severity orders verdicts from harmless to worst, for "the worst verdict
// of several attempts": a skipped attempt tells nothing, reproduced and
// clean are as expected, then infra-error, failed, unexpectedly-fixed and
// regression.
func severity(v string) int {
	switch v {
	case results.VerdictSkipped:
		return 0
	case results.VerdictClean:
		return 1
	case results.VerdictReproduced:
		return 2
	case results.VerdictInfra:
		return 3
	case results.VerdictFailed:
		return 4
	case results.VerdictFixed:
		return 5
	case results.VerdictRegression:
		return 6
	}
	return 3 // unknown: as bad as an infra error
}

// good reports whether a verdict is what the Examples row expects.
func good(v string) bool { return v == results.VerdictReproduced || v == results.VerdictClean }

// verdictClass maps a verdict onto a fixed CSS class; unknown verdicts never
// reach the markup verbatim.
func verdictClass(v string) string {
	for _, k := range results.Verdicts {
		if v == k {
			return "v-" + v
		}
	}
	return "v-unknown"
}

// group is every attempt of one cell key within one run.
type group struct {
	Key      string
	Attempts []*results.Cell // by attempt number
	// Verdict is the worst verdict of the attempts (see severity).
	Verdict string
	// Worst is the first attempt with that verdict; the matrix links to it.
	Worst *results.Cell
}

// First returns the group's first attempt, which names the coordinates.
func (g *group) First() *results.Cell { return g.Attempts[0] }

// Reproduced counts the attempts that observed the reported failure.
func (g *group) Reproduced() int {
	n := 0
	for _, c := range g.Attempts {
		if c.Reproduced != nil && *c.Reproduced {
			n++
		}
	}
	return n
}

// Label is the matrix text: the verdict, and with several attempts how many
// reproduced the failure, e.g. "unexpectedly-fixed · 2/3 reproduced".
func (g *group) Label() string {
	if len(g.Attempts) < 2 {
		return g.Verdict
	}
	return fmt.Sprintf("%s · %d/%d reproduced", g.Verdict, g.Reproduced(), len(g.Attempts))
}

// Mixed reports whether the attempts disagree: some as expected, some not
// (infra errors and skips aside). TestGrid calls such a result flaky.
func (g *group) Mixed() bool {
	var ok, bad bool
	for _, c := range g.Attempts {
		switch v := verdictOf(c); {
		case good(v):
			ok = true
		case v == results.VerdictRegression || v == results.VerdictFixed || v == results.VerdictFailed:
			bad = true
		}
	}
	return ok && bad
}

// groupAttempts groups sorted cells by key, in the order keys first appear.
func groupAttempts(cells []*results.Cell) []*group {
	var out []*group
	byKey := map[string]*group{}
	for _, c := range cells {
		k := c.Key()
		g, ok := byKey[k]
		if !ok {
			g = &group{Key: k}
			byKey[k] = g
			out = append(out, g)
		}
		g.Attempts = append(g.Attempts, c)
	}
	for _, g := range out {
		sort.SliceStable(g.Attempts, func(i, j int) bool { return g.Attempts[i].Attempt < g.Attempts[j].Attempt })
		for _, c := range g.Attempts {
			v := verdictOf(c)
			if g.Worst == nil || severity(v) > severity(g.Verdict) {
				g.Worst, g.Verdict = c, v
			}
		}
	}
	return out
}

// verdictCount is one verdict's total.
type verdictCount struct {
	Verdict string
	Class   string
	N       int
}

// countVerdicts totals groups per verdict, in results.Verdicts order, every
// verdict present (zeros included).
func countVerdicts(groups []*group) []verdictCount {
	n := map[string]int{}
	for _, g := range groups {
		n[g.Verdict]++
	}
	out := make([]verdictCount, 0, len(results.Verdicts))
	for _, v := range results.Verdicts {
		out = append(out, verdictCount{Verdict: v, Class: verdictClass(v), N: n[v]})
	}
	return out
}

// tagLink is a tag, with the upstream issue it names when it names one.
type tagLink struct {
	Tag string
	URL string
}

// issueTag matches tags naming an upstream issue, e.g. @microk8s-4944.
var issueTag = regexp.MustCompile(`^@([a-z0-9]+)-([0-9]+)$`)

// issueURL returns the upstream issue a tag names, or "" for any other tag:
// @microk8s-N is github.com/canonical/microk8s issue N, @k3s-N
// github.com/k3s-io/k3s issue N, @kubernetes-N github.com/kubernetes/kubernetes.
func issueURL(tag string) string {
	m := issueTag.FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	repo := ""
	switch m[1] {
	case "microk8s":
		repo = "canonical/microk8s"
	case "k3s":
		repo = "k3s-io/k3s"
	case "kubernetes":
		repo = "kubernetes/kubernetes"
	default:
		return ""
	}
	return "https://github.com/" + repo + "/issues/" + m[2]
}

// tagLinks returns the distinct tags of cells, in first-seen order, with
// their upstream issue links.
func tagLinks(cells []*results.Cell) []tagLink {
	var out []tagLink
	seen := map[string]bool{}
	for _, c := range cells {
		for _, t := range c.Tags {
			if t = strings.TrimSpace(t); t == "" || seen[t] {
				continue
			}
			seen[t] = true
			out = append(out, tagLink{Tag: t, URL: issueURL(t)})
		}
	}
	return out
}
