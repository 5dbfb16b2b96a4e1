package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"lab/harness/results"
)

// DefaultTitle heads every page when Site.Title is empty.
const DefaultTitle = "lab: MicroK8s networking failures × environments"

// Site publishes the runs stored under Out as a static, self-contained site
// (inline CSS, no JavaScript, no external URL but links to upstream issues):
//
//	DIR/index.html                  the front run's matrix, with history
//	DIR/nights.html                 every run: date, totals per verdict, link
//	DIR/badges/SCENARIO.svg         a status badge per scenario (front run)
//	DIR/runs/RUN_ID/index.html      each run's own matrix
//	DIR/runs/RUN_ID/cells/ID.html   one page per stored cell (attempt)
//	DIR/runs/RUN_ID/index.json      the run document and a summary per cell
//	DIR/runs/RUN_ID/junit.xml       JUnit XML, one testcase per cell
//	DIR/runs/RUN_ID/results.json    every cell of the run
//
// Every file is written atomically. Pages link to each other relatively,
// so the directory can be published anywhere or opened from disk.
type Site struct {
	// Out is the result store: Out/runs/RUN_ID/{run.json,cells/*.json}.
	Out string
	// Dir is where the site is written; empty means Out.
	Dir string
	// Title heads every page; empty means DefaultTitle.
	Title string
	// Front is the run shown as index.html; empty means the latest run
	// with at least one stored cell.
	Front string
	// Incremental renders only the front run and the runs whose page does
	// not exist yet (the other runs' pages only depend on older runs);
	// otherwise every run is rendered again.
	Incremental bool
	// History is how many runs a history strip shows; 0 means 14.
	History int
	// Now is the clock of the "generated" stamps; nil means time.Now.
	Now func() time.Time
}

// Published says what Publish wrote.
type Published struct {
	// Front is the run shown on index.html.
	Front string
	// Runs counts the stored runs, Rendered the runs whose pages were
	// (re)written, Cells the cells of the front run.
	Runs, Rendered, Cells int
	// Index is the path of the front page.
	Index string
	// Skipped lists, one line each, the files in Out/runs that are not
	// readable documents (truncated, garbage, foreign); they are left out
	// and the site is built from the rest.
	Skipped []string
}

// ErrNoRuns is returned by Publish when Out holds no stored run.
var ErrNoRuns = errors.New("no stored runs")

// runData is one stored run, loaded and grouped.
type runData struct {
	Run    *results.Run
	Cells  []*results.Cell // sorted
	Groups []*group        // one per key, in cell order
	byKey  map[string]*group
	pages  map[*results.Cell]string
}

// cellHref is the link from a page at root (a relative path to the site
// root, "" or ending in "/") to cell c of this run.
func (r *runData) cellHref(root string, c *results.Cell) string {
	return root + "runs/" + r.Run.ID + "/cells/" + r.pages[c]
}

// runHref is the link from a page at root to this run's matrix.
func (r *runData) runHref(root string) string {
	return root + "runs/" + r.Run.ID + "/index.html"
}

// newRunData groups the cells of a run.
func newRunData(run *results.Run, cells []*results.Cell) *runData {
	r := &runData{Run: run, Cells: sortedCells(cells), byKey: map[string]*group{}}
	r.Groups = groupAttempts(r.Cells)
	for _, g := range r.Groups {
		r.byKey[g.Key] = g
	}
	r.pages = pageNames(r.Cells)
	return r
}

// loadRuns reads every stored run under out, oldest first. A run without a
// readable run document (stored before run.json existed, or a corrupt one)
// gets one made from its ID and its cells. Files that are not readable
// documents are skipped and returned, one line each.
func loadRuns(out string) ([]*runData, []string, error) {
	ids, err := results.RunIDs(out)
	if err != nil {
		return nil, nil, fmt.Errorf("list runs in %s: %w", out, err)
	}
	var runs []*runData
	var skipped []string
	for _, id := range ids {
		st := results.Store{Dir: filepath.Join(out, "runs", id)}
		cells, bad, err := st.Scan()
		if err != nil {
			return nil, nil, fmt.Errorf("load run %s: %w", id, err)
		}
		for _, b := range bad {
			skipped = append(skipped, b.String())
		}
		run, err := st.LoadRun()
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				skipped = append(skipped, fmt.Sprintf("skipped %s: %v", filepath.Join(st.Dir, "run.json"), err))
			}
			run = &results.Run{ID: id}
		}
		run.ID = id // the directory names the run; pages link to it
		if run.StartedAt.IsZero() {
			run.StartedAt = runStart(id, cells)
		}
		runs = append(runs, newRunData(run, cells))
	}
	return runs, skipped, nil
}

// runStart guesses the start of a run without a run document: the UTC time
// its ID starts with, else its earliest cell.
func runStart(id string, cells []*results.Cell) time.Time {
	if len(id) >= 16 {
		if t, err := time.Parse("20060102T150405Z", id[:16]); err == nil {
			return t
		}
	}
	var first time.Time
	for _, c := range cells {
		if !c.StartedAt.IsZero() && (first.IsZero() || c.StartedAt.Before(first)) {
			first = c.StartedAt
		}
	}
	return first
}

// Publish renders the site from the stored runs; see Site.
func (s Site) Publish() (Published, error) {
	if s.Dir == "" {
		s.Dir = s.Out
	}
	if s.Title == "" {
		s.Title = DefaultTitle
	}
	if s.History <= 0 {
		s.History = defaultHistory
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	runs, skipped, err := loadRuns(s.Out)
	if err != nil {
		return Published{}, err
	}
	if len(runs) == 0 {
		return Published{}, fmt.Errorf("%w in %s", ErrNoRuns, filepath.Join(s.Out, "runs"))
	}
	front := -1
	for i, r := range runs {
		if s.Front == "" && len(r.Cells) > 0 || s.Front != "" && r.Run.ID == s.Front {
			front = i
		}
	}
	if front < 0 && s.Front == "" {
		front = len(runs) - 1
	}
	if front < 0 {
		return Published{}, fmt.Errorf("run %q is not stored in %s", s.Front, filepath.Join(s.Out, "runs"))
	}
	p := &publisher{site: s, runs: runs, front: front, generated: s.Now().UTC().Format(time.RFC3339)}
	res := Published{Front: runs[front].Run.ID, Runs: len(runs), Cells: len(runs[front].Cells), Index: filepath.Join(s.Dir, "index.html"), Skipped: skipped}
	for i, r := range runs {
		if s.Incremental && i != front {
			if _, err := os.Stat(filepath.Join(s.Dir, "runs", r.Run.ID, "index.html")); err == nil {
				continue
			}
		}
		if err := p.writeRun(i); err != nil {
			return res, err
		}
		res.Rendered++
	}
	if err := p.writeBadges(front); err != nil {
		return res, err
	}
	if err := p.writeNights(); err != nil {
		return res, err
	}
	if err := render(res.Index, "matrix", p.matrixView(front, "", true)); err != nil {
		return res, err
	}
	return res, nil
}

// publisher renders the pages of one Publish.
type publisher struct {
	site      Site
	runs      []*runData
	front     int
	generated string
}

// writeRun writes the data files, cell pages and matrix of runs[i], the
// matrix last so its links never dangle.
func (p *publisher) writeRun(i int) error {
	r := p.runs[i]
	dir := filepath.Join(p.site.Dir, "runs", r.Run.ID)
	if err := WriteJSON(filepath.Join(dir, "results.json"), r.Cells); err != nil {
		return err
	}
	if err := WriteJUnit(filepath.Join(dir, "junit.xml"), "lab "+r.Run.ID, r.Cells); err != nil {
		return err
	}
	if err := writeIndexJSON(filepath.Join(dir, "index.json"), r); err != nil {
		return err
	}
	for _, c := range r.Cells {
		if err := render(filepath.Join(dir, "cells", r.pages[c]), "cell", p.cellView(i, c)); err != nil {
			return err
		}
	}
	return render(filepath.Join(dir, "index.html"), "matrix", p.matrixView(i, "../../", false))
}

// writeBadges writes badges/SCENARIO.svg for every scenario of runs[i].
func (p *publisher) writeBadges(i int) error {
	byScenario := map[string][]*group{}
	var order []string
	for _, g := range p.runs[i].Groups {
		scn := g.First().Scenario
		if _, ok := byScenario[scn]; !ok {
			order = append(order, scn)
		}
		byScenario[scn] = append(byScenario[scn], g)
	}
	sort.Strings(order)
	for _, scn := range order {
		path := filepath.Join(p.site.Dir, "badges", safeName(scn)+".svg")
		if err := results.WriteFileAtomic(path, badgeSVG(scn, byScenario[scn])); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
