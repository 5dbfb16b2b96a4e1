// Package feature reads Gherkin feature files into cells: one cell per
// Scenario Outline Examples row (the row's `profile` column names the matrix
// column). It keeps every source position so errors and reports point at the
// file and line a maintainer wrote.
package feature

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"lab/harness/inputfile"

	gherkin "github.com/cucumber/gherkin/go/v26"
	messages "github.com/cucumber/messages/go/v21"
)

// ProfileColumn is the Examples column naming a cell's profile.
const ProfileColumn = "profile"

// Step is one step of a cell, with parameters already substituted.
type Step struct {
	Keyword string // Given/When/Then/And/But as written
	Text    string
	Line    int
	// DocString and Table are the step's argument, if any.
	DocString string
	Table     [][]string
}

// Cell is one runnable scenario instance (one Examples row).
type Cell struct {
	// Scenario is the feature's base name (its file name without .feature).
	Scenario string
	// Feature is the feature's title.
	Feature string
	// Name is the expanded scenario name.
	Name    string
	File    string
	Line    int // line of the Examples row
	Tags    []string
	Profile string
	// Row holds the Examples row by column name.
	Row   map[string]string
	Steps []Step
}

// Feature is a parsed feature file.
type Feature struct {
	Scenario    string
	Title       string
	Description string
	File        string
	Tags        []string
	Cells       []Cell
}

// MaxFileSize bounds a feature file (1 MiB): features are hand-written.
const MaxFileSize = 1 << 20

// Parse reads and compiles one feature file. Only a regular UTF-8 text file
// is read (a FIFO or directory is an error, never a hang or a panic).
func Parse(path string) (*Feature, error) {
	data, err := inputfile.Text(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read feature: %w", err)
	}
	return ParseBytes(path, data)
}

// Cells parses every feature file matching pattern (filepath.Glob) and
// returns all their cells, file by file; no file matching is an error.
func Cells(pattern string) ([]Cell, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no feature files match %s", pattern)
	}
	var cells []Cell
	for _, f := range files {
		ft, err := Parse(f)
		if err != nil {
			return nil, err
		}
		cells = append(cells, ft.Cells...)
	}
	return cells, nil
}

// ParseBytes compiles the feature text data as if read from path.
func ParseBytes(path string, data []byte) (*Feature, error) {
	ids := &messages.Incrementing{}
	doc, err := gherkin.ParseGherkinDocument(bytes.NewReader(data), ids.NewId)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "Parser errors:\n"))
	}
	if doc.Feature == nil {
		return nil, fmt.Errorf("%s: no Feature: found", path)
	}
	ft := &Feature{
		Scenario:    strings.TrimSuffix(filepath.Base(path), ".feature"),
		Title:       doc.Feature.Name,
		Description: strings.TrimSpace(doc.Feature.Description),
		File:        path,
		Tags:        tagNames(doc.Feature.Tags),
	}
	idx := index(doc.Feature)
	for _, p := range gherkin.Pickles(*doc, path, ids.NewId) {
		c, err := ft.cell(p, idx)
		if err != nil {
			return nil, err
		}
		ft.Cells = append(ft.Cells, c)
	}
	if len(ft.Cells) == 0 {
		return nil, fmt.Errorf("%s: no scenarios", path)
	}
	return ft, nil
}

type nodes struct {
	scenarios map[string]*messages.Scenario
	rows      map[string]rowRef
	steps     map[string]*messages.Step
}

type rowRef struct {
	row    *messages.TableRow
	header *messages.TableRow
}

func index(f *messages.Feature) nodes {
	n := nodes{scenarios: map[string]*messages.Scenario{}, rows: map[string]rowRef{}, steps: map[string]*messages.Step{}}
	addSteps := func(steps []*messages.Step) {
		for _, s := range steps {
			n.steps[s.Id] = s
		}
	}
	var addScenario func(sc *messages.Scenario)
	addScenario = func(sc *messages.Scenario) {
		n.scenarios[sc.Id] = sc
		addSteps(sc.Steps)
		for _, ex := range sc.Examples {
			for _, r := range ex.TableBody {
				n.rows[r.Id] = rowRef{row: r, header: ex.TableHeader}
			}
		}
	}
	for _, ch := range f.Children {
		switch {
		case ch.Scenario != nil:
			addScenario(ch.Scenario)
		case ch.Background != nil:
			addSteps(ch.Background.Steps)
		case ch.Rule != nil:
			for _, rc := range ch.Rule.Children {
				if rc.Scenario != nil {
					addScenario(rc.Scenario)
				}
				if rc.Background != nil {
					addSteps(rc.Background.Steps)
				}
			}
		}
	}
	return n
}

func (ft *Feature) cell(p *messages.Pickle, idx nodes) (Cell, error) {
	sc := idx.scenarios[p.AstNodeIds[0]]
	c := Cell{Scenario: ft.Scenario, Feature: ft.Title, Name: p.Name, File: ft.File, Line: int(sc.Location.Line), Row: map[string]string{}}
	for _, t := range p.Tags {
		c.Tags = append(c.Tags, t.Name)
	}
	if len(p.AstNodeIds) < 2 && len(sc.Examples) == 0 && strings.Contains(sc.Keyword, "Outline") {
		return c, fmt.Errorf("%s:%d: Scenario Outline %q has no Examples; add Examples with a %q column (one row per profile)", ft.File, c.Line, sc.Name, ProfileColumn)
	}
	if len(p.AstNodeIds) < 2 {
		return c, fmt.Errorf("%s:%d: scenario %q is not a Scenario Outline; give it Examples with a %q column (one row per profile)", ft.File, c.Line, sc.Name, ProfileColumn)
	}
	ref := idx.rows[p.AstNodeIds[1]]
	c.Line = int(ref.row.Location.Line)
	for i, h := range ref.header.Cells {
		c.Row[h.Value] = ref.row.Cells[i].Value
	}
	prof, ok := c.Row[ProfileColumn]
	if !ok {
		return c, fmt.Errorf("%s:%d: the Examples of %q have no %q column; add one naming the profile of each row", ft.File, int(ref.header.Location.Line), sc.Name, ProfileColumn)
	}
	if prof == "" {
		return c, fmt.Errorf("%s:%d: empty %q in this Examples row", ft.File, c.Line, ProfileColumn)
	}
	c.Profile = prof
	for _, ps := range p.Steps {
		st := Step{Text: ps.Text}
		if s := idx.steps[ps.AstNodeIds[0]]; s != nil {
			st.Keyword = strings.TrimSpace(s.Keyword)
			st.Line = int(s.Location.Line)
		}
		if a := ps.Argument; a != nil {
			if a.DocString != nil {
				st.DocString = a.DocString.Content
			}
			if a.DataTable != nil {
				for _, r := range a.DataTable.Rows {
					var row []string
					for _, cell := range r.Cells {
						row = append(row, cell.Value)
					}
					st.Table = append(st.Table, row)
				}
			}
		}
		c.Steps = append(c.Steps, st)
	}
	return c, nil
}

func tagNames(tags []*messages.Tag) []string {
	var out []string
	for _, t := range tags {
		out = append(out, t.Name)
	}
	return out
}

// Source renders the cell as a one-scenario feature for godog, keeping each
// step's text and argument exactly; godog executes this text.
func (c Cell) Source() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Feature: %s\n\n  Scenario: %s\n", oneLine(c.Feature), oneLine(c.Name))
	for _, s := range c.Steps {
		fmt.Fprintf(&b, "    * %s\n", s.Text)
		if s.DocString != "" {
			b.WriteString("      \"\"\"\n")
			for _, l := range strings.Split(s.DocString, "\n") {
				b.WriteString("      " + strings.ReplaceAll(l, `"""`, `\"\"\"`) + "\n")
			}
			b.WriteString("      \"\"\"\n")
		}
		for _, r := range s.Table {
			esc := make([]string, len(r))
			for i, v := range r {
				esc[i] = strings.NewReplacer(`\`, `\\`, "|", `\|`, "\n", `\n`).Replace(v)
			}
			b.WriteString("      | " + strings.Join(esc, " | ") + " |\n")
		}
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Dir lists the feature files in dir by scenario name. Directories named
// *.feature are not feature files and are left out.
func Dir(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.feature"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range files {
		if isDir(f) {
			continue
		}
		out[strings.TrimSuffix(filepath.Base(f), ".feature")] = f
	}
	return out, nil
}

// Names returns the sorted keys of a Dir map.
func Names(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
