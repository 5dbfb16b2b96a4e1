package reports

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-cmp/cmp"

	"lab/harness/results"
)

// Counter and handle noise stripped from rule dumps before they are
// compared: iptables-save's "[packets:bytes]", nft's counters and handles.
var (
	iptCounters = regexp.MustCompile(`\s*\[\d+:\d+\]\s*`)
	nftCounter  = regexp.MustCompile(`counter packets \d+ bytes \d+`)
	nftHandle   = regexp.MustCompile(`\s*# handle \d+$`)
	// randomID matches generated identifiers (12 or more hex digits, as in
	// CNI-DN-3338e0cedae5b7110369d or a container ID).
	randomID = regexp.MustCompile(`\b[0-9a-f]{12,}\b`)
)

// isRuleDump reports whether evidence is a rule dump: Kind "rules", or, for
// evidence recorded without a kind (Kind ""), text that looks like
// iptables-save output (a "*table" line and COMMIT), iptables -S output
// (every line a -P, -N or -A command) or an nft ruleset ("table ...").
func isRuleDump(e results.Evidence) bool {
	switch e.Kind {
	case "rules":
		return true
	case "":
		t := "\n" + e.Text
		if strings.Contains(t, "\n*") && strings.Contains(t, "\nCOMMIT") || strings.HasPrefix(strings.TrimSpace(e.Text), "table ") {
			return true
		}
		n := 0
		for _, l := range strings.Split(e.Text, "\n") {
			if l = strings.TrimSpace(l); l == "" {
				continue
			}
			if !iptCommand(l) {
				return false
			}
			n++
		}
		return n > 0
	}
	return false
}

// iptCommand reports whether a line is an iptables rule command.
func iptCommand(l string) bool {
	return strings.HasPrefix(l, "-A ") || strings.HasPrefix(l, "-N ") || strings.HasPrefix(l, "-P ")
}

// ruleLines extracts the comparable lines of a rule dump. For iptables-save
// (or iptables -S) output these are, per table, the table marker ("*nat"), the chain
// declarations (":CHAIN POLICY") and the rules ("-A ...", "-N", "-P"),
// without counters; for any other dump (nft list ruleset) every non-blank,
// non-comment line, trimmed, without counters and handles. In both,
// generated identifiers (12 or more hex digits: CNI-DN-<id> chains,
// container IDs in comments) become "<id>", so two cells' different
// sandboxes do not drown the difference that matters; the rules of such
// generated chains are sorted, since iptables-save orders those chains by
// their random names, while every other chain keeps its rule order.
func ruleLines(text string) []string {
	lines := strings.Split(text, "\n")
	ipt := false
	for _, l := range lines {
		if l = strings.TrimSpace(iptCounters.ReplaceAllString(l, "")); iptCommand(l) || l == "COMMIT" {
			ipt = true
			break
		}
	}
	out := []string{}
	var decls, order []string
	rules := map[string][]string{}
	flush := func() {
		out = append(out, decls...)
		for _, ch := range order {
			if strings.Contains(ch, "<id>") {
				sort.Strings(rules[ch])
			}
			out = append(out, rules[ch]...)
		}
		decls, order, rules = nil, nil, map[string][]string{}
	}
	for _, l := range lines {
		l = strings.TrimSpace(randomID.ReplaceAllString(l, "<id>"))
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !ipt {
			l = nftCounter.ReplaceAllString(l, "counter")
			out = append(out, nftHandle.ReplaceAllString(l, ""))
			continue
		}
		// "[0:0] -A X" and ":X ACCEPT [0:0]" lose their counters.
		l = strings.TrimSpace(iptCounters.ReplaceAllString(l, " "))
		switch f := strings.Fields(l); {
		case strings.HasPrefix(l, "*"):
			flush()
			out = append(out, l)
		case strings.HasPrefix(l, ":"):
			decls = append(decls, l)
		case len(f) >= 2 && (f[0] == "-A" || f[0] == "-N" || f[0] == "-P"):
			if _, ok := rules[f[1]]; !ok {
				order = append(order, f[1])
			}
			rules[f[1]] = append(rules[f[1]], l)
		}
	}
	flush()
	return out
}

// diffLine is one line of a rendered diff; Class is "del", "add", "same"
// or "skip" (a run of identical lines left out).
type diffLine struct {
	Class string
	Text  string
}

// ruleDiff is the difference between a cell's rule dump and the dump of the
// same name in its baseline cell.
type ruleDiff struct {
	// Missing: the baseline has no rule dump of that name.
	Missing bool
	// Same: the rule sets are equal (counters aside).
	Same           bool
	Lines          []diffLine
	Added, Removed int
}

// editScript records, through go-cmp's Reporter interface, how two slices
// of lines align: one entry per element pair go-cmp compares, in order,
// with -1 for the side an element is missing from.
type editScript struct {
	path  cmp.Path
	edits []edit
}

// edit is one aligned pair of line indices and whether the lines are equal.
type edit struct {
	ix, iy int
	equal  bool
}

// PushStep implements the cmp.Reporter interface.
func (e *editScript) PushStep(ps cmp.PathStep) { e.path = append(e.path, ps) }

// PopStep implements the cmp.Reporter interface.
func (e *editScript) PopStep() { e.path = e.path[:len(e.path)-1] }

// Report implements the cmp.Reporter interface: every leaf under the root
// slice is one element pair.
func (e *editScript) Report(r cmp.Result) {
	if len(e.path) < 2 {
		return
	}
	if si, ok := e.path[1].(cmp.SliceIndex); ok {
		ix, iy := si.SplitKeys()
		e.edits = append(e.edits, edit{ix, iy, r.Equal()})
	}
}

// diffContext is how many identical lines are kept around a change.
const diffContext = 2

// diffRules compares two dumps with go-cmp, line by line, on their rule
// lines (ruleLines): "-" lines are only in the baseline, "+" lines only in
// this cell, and runs of identical lines are shortened to their context.
func diffRules(base, this string) ruleDiff {
	x, y := ruleLines(base), ruleLines(this)
	var es editScript
	if cmp.Equal(x, y, cmp.Reporter(&es)) {
		return ruleDiff{Same: true}
	}
	var rd ruleDiff
	var all []diffLine
	for _, e := range es.edits {
		switch {
		case e.equal:
			all = append(all, diffLine{"same", "  " + y[e.iy]})
			continue
		case e.ix >= 0 && e.iy >= 0: // modified: both versions
			all = append(all, diffLine{"del", "- " + x[e.ix]}, diffLine{"add", "+ " + y[e.iy]})
			rd.Removed++
			rd.Added++
		case e.ix >= 0:
			all = append(all, diffLine{"del", "- " + x[e.ix]})
			rd.Removed++
		default:
			all = append(all, diffLine{"add", "+ " + y[e.iy]})
			rd.Added++
		}
	}
	// Keep diffContext identical lines on either side of a change.
	keep := make([]bool, len(all))
	for i, l := range all {
		if l.Class != "same" {
			for j := max(0, i-diffContext); j <= min(len(all)-1, i+diffContext); j++ {
				keep[j] = true
			}
		}
	}
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && !keep[j] {
			j++
		}
		switch {
		case j == i:
			rd.Lines = append(rd.Lines, all[i])
			j++
		case j-i == 1: // a marker would be no shorter than the line
			rd.Lines = append(rd.Lines, all[i])
		default:
			rd.Lines = append(rd.Lines, diffLine{"skip", fmt.Sprintf("  … %d identical lines", j-i)})
		}
		i = j
	}
	return rd
}

// baseline picks the cell a cell's rule dumps are compared with: a clean
// attempt of the same scenario in the same run, preferring the same outline
// (row) and provider, then the first by profile name. It returns nil for a
// clean cell or when the run has no clean cell of the scenario.
func baseline(r *runData, c *results.Cell) *results.Cell {
	if verdictOf(c) == results.VerdictClean {
		return nil
	}
	var best *results.Cell
	rank := func(x *results.Cell) [4]string {
		sameRow, sameProv := "1", "1"
		if rowName(x) == rowName(c) {
			sameRow = "0"
		}
		if x.Provider == c.Provider {
			sameProv = "0"
		}
		return [4]string{sameRow, sameProv, x.Profile, x.ID}
	}
	for _, x := range r.Cells {
		if x.Scenario != c.Scenario || x.Key() == c.Key() || verdictOf(x) != results.VerdictClean {
			continue
		}
		if best == nil || less4(rank(x), rank(best)) {
			best = x
		}
	}
	return best
}

func less4(a, b [4]string) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// evidenceView is one piece of evidence on a cell page.
type evidenceView struct {
	Name  string
	Kind  string
	Text  string
	Rules bool
	// Diff is set for rule dumps when the cell has a baseline.
	Diff *ruleDiff
}

// evidenceViews lays out a cell's evidence, diffing rule dumps against the
// baseline's dump of the same name.
func evidenceViews(c, base *results.Cell) []evidenceView {
	var out []evidenceView
	for _, e := range c.Evidence {
		v := evidenceView{Name: e.Name, Kind: e.Kind, Text: e.Text, Rules: isRuleDump(e)}
		if v.Kind == "" {
			v.Kind = "output"
			if v.Rules {
				v.Kind = "rules"
			}
		}
		if v.Rules && base != nil {
			d := ruleDiff{Missing: true}
			for _, b := range base.Evidence {
				if b.Name == e.Name && isRuleDump(b) {
					d = diffRules(b.Text, e.Text)
					break
				}
			}
			v.Diff = &d
		}
		out = append(out, v)
	}
	return out
}
