package reports

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"lab/harness/results"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates holds every page template, selected by name ("matrix", "cell",
// "nights"); shared pieces ("style", "head", "nav", "strip", "legend") have
// their own definitions. The parsed set is read-only.
var templates = template.Must(template.New("reports").Funcs(template.FuncMap{
	"statusClass": statusClass,
	"duration":    formatDuration,
	"repro":       func(r *bool) string { return reproText(r, "unknown") },
}).ParseFS(templateFS, "templates/*.tmpl"))

// pageMeta is what every page shows in its header and footer. Root is the
// relative path from the page to the site root ("" or ending in "/").
type pageMeta struct {
	Title      string
	Generated  string
	Root       string
	FrontHref  string
	NightsHref string
}

// runInfo describes a run on its pages.
type runInfo struct {
	ID       string
	Started  string
	Finished string
	Seed     uint64
	Repeat   int
	Planned  int
	Stored   int
	Filters  []keyValue
	Href     string
	JSON     string
	JUnit    string
	Results  string
}

// legendEntry is one verdict in the key.
type legendEntry struct {
	Verdict, Class, Text string
}

// legend explains every verdict, in results.Verdicts order.
func legend() []legendEntry {
	text := map[string]string{
		results.VerdictReproduced: "The reported failure is present, as this environment expects (the known bug).",
		results.VerdictClean:      "The reported failure is absent, as this environment expects.",
		results.VerdictRegression: "Expected clean, but the failure was observed.",
		results.VerdictFixed:      "Expected the failure, but it was not observed.",
		results.VerdictFailed:     "The failure's presence was as expected, but another expectation did not hold.",
		results.VerdictInfra:      "The lab itself failed (setup, a command, a timeout).",
		results.VerdictSkipped:    "The provider cannot run this cell here.",
	}
	var out []legendEntry
	for _, v := range results.Verdicts {
		out = append(out, legendEntry{v, verdictClass(v), text[v]})
	}
	return out
}

// matrixView is the data of a matrix page (index.html, runs/ID/index.html).
type matrixView struct {
	pageMeta
	Front         bool
	Run           runInfo
	PrevRun       string
	Changed       []change
	Totals        []verdictCount
	Matrix        matrix
	MultiProvider bool
	// Outcome counts the outcome disagreements among Matrix.Disagreements.
	Outcome int
	History int
	Legend  []legendEntry
}

// attemptLink links one attempt of a cell from the page of another.
type attemptLink struct {
	N       int
	Verdict string
	Class   string
	Href    string
	Current bool
}

// baselineView names the cell rule dumps are compared with.
type baselineView struct {
	Profile, Provider, Name, Href string
}

// cellView is the data of one cell page.
type cellView struct {
	pageMeta
	Run          runInfo
	C            *results.Cell
	Verdict      string
	Class        string
	Group        string
	Tags         []tagLink
	Attempts     []attemptLink
	History      strip
	Observations []keyValue
	Environment  []keyValue
	Pinned       []pinnedView
	Ran          []ranView
	Evidence     []evidenceView
	Baseline     *baselineView
	// Compare is the same coordinate on the run's other providers, or nil.
	Compare *providerCompare
}

// ranView is what ran in one host of a cell, read inside it.
type ranView struct {
	Host  string
	Facts []keyValue
}

func ranViews(ran map[string]map[string]string) []ranView {
	out := make([]ranView, 0, len(ran))
	for _, h := range sortedKeys(boolSet(ran)) {
		out = append(out, ranView{Host: h, Facts: sortedEnv(ran[h])})
	}
	return out
}

// nightRow is one run on the nights page.
type nightRow struct {
	ID       string
	Href     string
	Date     string
	Duration string
	Cells    int
	// Providers lists the providers the run's cells ran on.
	Providers string
	Partial   bool
	Front     bool
	Totals    []verdictCount
}

// nightsView is the data of nights.html.
type nightsView struct {
	pageMeta
	Verdicts []legendEntry
	Nights   []nightRow
}

// meta builds the page metadata for a page at root.
func (p *publisher) meta(root string) pageMeta {
	return pageMeta{Title: p.site.Title, Generated: p.generated, Root: root,
		FrontHref: root + "index.html", NightsHref: root + "nights.html"}
}

// info describes runs[i] for a page at root.
func (p *publisher) info(i int, root string) runInfo {
	r := p.runs[i]
	dir := root + "runs/" + r.Run.ID + "/"
	ri := runInfo{ID: r.Run.ID, Started: stamp(r.Run.StartedAt), Finished: stamp(r.Run.FinishedAt),
		Seed: r.Run.Seed, Repeat: r.Run.Repeat, Planned: len(r.Run.Planned), Stored: len(r.Cells),
		Href: dir + "index.html", JSON: dir + "index.json", JUnit: dir + "junit.xml", Results: dir + "results.json"}
	var names []string
	for k, v := range r.Run.Filters {
		if len(v) > 0 {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		ri.Filters = append(ri.Filters, keyValue{k, strings.Join(r.Run.Filters[k], " ")})
	}
	return ri
}

// matrixView builds the matrix page of runs[i] for a page at root; front
// marks the site's index.html.
func (p *publisher) matrixView(i int, root string, front bool) matrixView {
	v := matrixView{
		pageMeta: p.meta(root),
		Front:    front,
		Run:      p.info(i, root),
		Changed:  changes(p.runs, i, root),
		Totals:   countVerdicts(p.runs[i].Groups),
		Matrix:   buildMatrix(p.runs, i, root, p.site.History),
		History:  p.site.History,
		Legend:   legend(),
	}
	if i > 0 {
		v.PrevRun = p.runs[i-1].Run.ID
	}
	v.MultiProvider = len(v.Matrix.Providers) > 1
	for _, d := range v.Matrix.Disagreements {
		if d.Kind == DisagreeOutcome {
			v.Outcome++
		}
	}
	return v
}

// cellView builds the page of cell c of runs[i].
func (p *publisher) cellView(i int, c *results.Cell) cellView {
	const root = "../../../"
	r := p.runs[i]
	g := r.byKey[c.Key()]
	v := cellView{
		pageMeta:     p.meta(root),
		Run:          p.info(i, root),
		C:            c,
		Verdict:      verdictOf(c),
		Class:        verdictClass(verdictOf(c)),
		Tags:         tagLinks([]*results.Cell{c}),
		History:      historyStrip(p.runs, i, c.Key(), p.site.History, root),
		Observations: sortedObservations(c.Observations),
		Environment:  sortedEnv(c.Environment),
		Pinned:       pinnedViews(c.Pinned, c.PinnedSources),
		Ran:          ranViews(c.Ran),
		Compare:      compareProviders(r, c, root),
	}
	if len(g.Attempts) > 1 {
		v.Group = g.Label()
		for _, a := range g.Attempts {
			av := verdictOf(a)
			v.Attempts = append(v.Attempts, attemptLink{N: a.Attempt, Verdict: av, Class: verdictClass(av),
				Href: r.cellHref(root, a), Current: a == c})
		}
	}
	base := baseline(r, c)
	if base != nil {
		v.Baseline = &baselineView{Profile: base.Profile, Provider: base.Provider, Name: base.Name, Href: r.cellHref(root, base)}
	}
	v.Evidence = evidenceViews(c, base)
	return v
}

// writeNights writes nights.html: every run, newest first.
func (p *publisher) writeNights() error {
	v := nightsView{pageMeta: p.meta(""), Verdicts: legend()}
	for i := len(p.runs) - 1; i >= 0; i-- {
		r := p.runs[i]
		row := nightRow{ID: r.Run.ID, Href: r.runHref(""), Date: stamp(r.Run.StartedAt),
			Cells: len(r.Groups), Totals: countVerdicts(r.Groups), Providers: strings.Join(providersOf(r.Cells), " "),
			Partial: len(r.Run.Planned) > len(r.Cells), Front: i == p.front}
		if !r.Run.FinishedAt.IsZero() && !r.Run.StartedAt.IsZero() {
			row.Duration = r.Run.FinishedAt.Sub(r.Run.StartedAt).Round(time.Second).String()
		}
		v.Nights = append(v.Nights, row)
	}
	return render(filepath.Join(p.site.Dir, "nights.html"), "nights", v)
}

// stamp renders a time as UTC "2006-01-02 15:04:05Z", or "" when zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// render executes the named template and writes the result atomically.
func render(path, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	if err := results.WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
