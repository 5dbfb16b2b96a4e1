package scenarios

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"lab/harness/feature"
	"lab/harness/kernel"
	"lab/harness/kubeproxy"
	"lab/harness/locate"
	"lab/harness/profile"
)

// Problem is one authoring mistake in a feature or profile, at a file and
// line (0: the whole file).
type Problem = profile.Problem

// Checker checks features and profiles against the vocabulary before
// anything boots. Build it once with NewChecker; it is read-only after.
type Checker struct {
	defs []Def
	pats []*regexp.Regexp
	// Images is the profiles' directory.
	Images string
	// Known are the extensions iptables knows (nil: not checked).
	Known *kernel.Known
}

// NewChecker returns a checker of the whole vocabulary, with profiles from
// images and the extensions of this host's iptables (when it has any).
func NewChecker(images string) *Checker {
	c := &Checker{defs: Vocabulary(), Images: images}
	for _, d := range c.defs {
		c.pats = append(c.pats, regexp.MustCompile(d.Pattern))
	}
	c.Known, _ = kernel.HostExtensions()
	return c
}

var placeholderRE = regexp.MustCompile(`<[^<>"]+>`)

// Step binds one step text (placeholders substituted) against the
// vocabulary and checks every parameter with its type's parser. It returns
// the problems as messages, and the bound definition and arguments when it
// binds.
func (c *Checker) Step(text string) (msgs []string, def *Def, args []string) {
	var hits []int
	for i, p := range c.pats {
		if p.MatchString(text) {
			hits = append(hits, i)
		}
	}
	switch len(hits) {
	case 0:
		msg := fmt.Sprintf("undefined step %q; see `lab steps` for the vocabulary", text)
		if s := c.closest(text); s != "" {
			msg += "; closest: `" + s + "`"
		}
		return []string{msg}, nil, nil
	case 1:
	default:
		var ex []string
		for _, i := range hits {
			ex = append(ex, c.defs[i].Pattern)
		}
		return []string{fmt.Sprintf("step %q matches %d step patterns (%s); reword it", text, len(hits), strings.Join(ex, ", "))}, nil, nil
	}
	d := &c.defs[hits[0]]
	args = c.pats[hits[0]].FindStringSubmatch(text)[1:]
	for i, a := range args {
		if i >= len(d.Params) {
			break
		}
		p := d.Params[i]
		if a == "" && p.Optional {
			continue
		}
		if err := p.Type.Check(a); err != nil {
			msgs = append(msgs, fmt.Sprintf("%s (the %s, a %s): %v", text, p.Name, p.Type.Name, err))
		}
	}
	return msgs, d, args
}

// closest is the example of the definition sharing the most words with text.
func (c *Checker) closest(text string) string {
	words := map[string]bool{}
	for _, w := range strings.Fields(text) {
		if !strings.Contains(w, `"`) {
			words[w] = true
		}
	}
	best, score := "", 1
	for _, d := range c.defs {
		n := 0
		for _, w := range strings.Fields(d.Example) {
			if words[w] {
				n++
			}
		}
		if n > score {
			best, score = d.Example, n
		}
	}
	return best
}

// Cell checks every step of one cell: unresolved placeholders, binding,
// parameter types and the cell's topology (see cellState).
func (c *Checker) Cell(cl feature.Cell) []Problem {
	var out []Problem
	st := newCellState()
	for _, s := range cl.Steps {
		if ph := placeholderRE.FindAllString(s.Text, -1); len(ph) > 0 {
			out = append(out, Problem{File: cl.File, Line: s.Line, Msg: fmt.Sprintf("unknown placeholder %s: the Examples (row at line %d) have columns %s",
				strings.Join(ph, ", "), cl.Line, strings.Join(columns(cl.Row), ", "))})
			continue
		}
		msgs, d, args := c.Step(s.Text)
		for _, m := range msgs {
			if v := rowValueIn(cl.Row, m); v != "" {
				m += fmt.Sprintf(" (the value %q comes from the Examples row at line %d)", v, cl.Line)
			}
			out = append(out, Problem{File: cl.File, Line: s.Line, Msg: m})
		}
		if d == nil || len(msgs) > 0 {
			continue
		}
		m := ""
		if d.cell != nil {
			m = d.cell(st, args)
		}
		if m == "" {
			m = st.known(d.Params, args)
		}
		if m == "" {
			m = st.observations(d, args)
		}
		if m != "" {
			out = append(out, Problem{File: cl.File, Line: s.Line, Msg: m})
		}
	}
	return out
}

func columns(row map[string]string) []string {
	var out []string
	for k := range row {
		out = append(out, "<"+k+">")
	}
	sort.Strings(out)
	return out
}

// rowValueIn returns a non-profile Examples value quoted in msg, if any.
func rowValueIn(row map[string]string, msg string) string {
	for k, v := range row {
		if k != feature.ProfileColumn && v != "" && strings.Contains(msg, fmt.Sprintf("%q", v)) {
			return v
		}
	}
	return ""
}

// Files parses feature files and checks every cell, and every profile the
// cells name: all problems, sorted by file and line, each once. It also
// returns the cells of the files that parsed.
func (c *Checker) Files(files []string) ([]Problem, []feature.Cell) {
	var out []Problem
	var cells []feature.Cell
	valid, err := profile.Names(c.Images)
	if err != nil {
		return []Problem{{File: c.Images, Msg: err.Error()}}, nil
	}
	isValid := map[string]bool{}
	for _, v := range valid {
		isValid[v] = true
	}
	profiles := map[string]bool{}
	loaded := map[string]*profile.Profile{}
	for _, f := range files {
		ft, err := feature.Parse(f)
		if err != nil {
			out = append(out, Problem{File: f, Msg: err.Error()})
			continue
		}
		for _, cl := range ft.Cells {
			cells = append(cells, cl)
			if !isValid[cl.Profile] {
				out = append(out, Problem{File: cl.File, Line: cl.Line, Msg: fmt.Sprintf("unknown profile %q; valid profiles: %s", cl.Profile, strings.Join(valid, ", "))})
			} else {
				profiles[cl.Profile] = true
				out = append(out, c.proxyMode(cl, loaded)...)
			}
			out = append(out, c.Cell(cl)...)
		}
	}
	var names []string
	for p := range profiles {
		names = append(names, p)
	}
	out = append(out, c.Profiles(names)...)
	return dedupe(out), cells
}

// proxyMode refuses a step that runs kube-proxy (Def.kubeProxy) on a
// profile whose Kubernetes release no kube-proxy module builds, and, on a
// cell whose profile runs kube-proxy in nftables mode, the steps that rely
// on its iptables mode (Def.iptablesProxy).
// loaded caches the profiles; one that does not load is Profiles' problem.
func (c *Checker) proxyMode(cl feature.Cell, loaded map[string]*profile.Profile) []Problem {
	p, ok := loaded[cl.Profile]
	if !ok {
		p, _ = profile.Load(c.Images, cl.Profile)
		loaded[cl.Profile] = p
	}
	if p == nil {
		return nil
	}
	var out []Problem
	for _, s := range cl.Steps {
		msgs, d, args := c.Step(s.Text)
		if len(msgs) == 0 && d != nil && d.kubeProxy && p.MicroK8s.Kubernetes != "" {
			// the one kube-proxy problem of the cell: no module of the
			// repository builds its release
			root, rerr := locate.Root()
			if _, err := kubeproxy.ModuleDir(root, p.MicroK8s.Kubernetes); rerr == nil && err != nil {
				out = append(out, Problem{File: cl.File, Line: s.Line, Msg: fmt.Sprintf("profile %s pins Kubernetes %s, which no kube-proxy module builds (%v); use a profile whose release has one (%s) or add the module (harness/kubeproxy/README.md)", cl.Profile, p.MicroK8s.Kubernetes, err, strings.Join(kubeproxy.Versions(root), ", "))})
				return out
			}
		}
		if p.KubeProxy.Mode != kubeproxy.ModeNFTables {
			continue
		}
		if len(msgs) == 0 && d != nil && d.iptablesProxy != nil && d.iptablesProxy(args) {
			out = append(out, Problem{File: cl.File, Line: s.Line, Msg: fmt.Sprintf("profile %s runs kube-proxy in nftables mode, which has no canary chain to hold or watch; this step needs a profile with kube_proxy.mode iptables", cl.Profile)})
		}
	}
	return out
}

// Profiles checks the named profiles (and what they extend).
func (c *Checker) Profiles(names []string) []Problem {
	var out []Problem
	sort.Strings(names)
	for _, n := range names {
		for _, p := range profile.Check(c.Images, n, c.Known) {
			out = append(out, p)
		}
	}
	return dedupe(out)
}

// dedupe sorts problems by file and line and drops repeats (a step shared
// by every Examples row is checked once per row).
func dedupe(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
	var out []Problem
	seen := map[string]bool{}
	for _, p := range ps {
		if k := p.String(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}
