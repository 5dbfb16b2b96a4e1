package reports

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"path/filepath"
	"strings"
	"time"

	"lab/harness/results"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates holds every page template; pages are selected by name
// ("index", "cell"). Shared pieces ("style", "legend", ...) are defined in
// their own files so new pages can reuse them.
var templates = template.Must(template.New("reports").Funcs(template.FuncMap{
	"statusClass": statusClass,
	"duration":    formatDuration,
	"repro":       func(r *bool) string { return reproText(r, "unknown") },
	"join":        strings.Join,
}).ParseFS(templateFS, "templates/*.tmpl"))

// now is the clock used for the "generated" timestamp; tests may replace it.
var now = time.Now

// siteMeta is what every page of the site shows in its header.
type siteMeta struct {
	Title     string
	RunID     string
	Generated string
}

// indexView is the data of index.html.
type indexView struct {
	siteMeta
	Matrix        matrix
	MultiProvider bool
	Totals        tally
}

// cellView is the data of one cell page.
type cellView struct {
	siteMeta
	C            *results.Cell
	Label        string
	Class        string
	Observations []keyValue
	Environment  []keyValue
}

// WriteSite writes a static, self-contained HTML report of cells into dir:
// dir/index.html holds the matrix (rows: scenarios, columns: profiles,
// grouped per provider when there is more than one) and dir/cells/<ID>.html
// one page per cell with its steps, observations, environment and evidence.
// title heads every page and runID is shown next to the generation time.
// Cell pages are written before the index so its links never dangle.
func WriteSite(dir string, title string, runID string, cells []*results.Cell) error {
	sorted := sortedCells(cells)
	pages := pageNames(sorted)
	meta := siteMeta{Title: title, RunID: runID, Generated: now().UTC().Format(time.RFC3339)}

	for _, c := range sorted {
		v := cellView{
			siteMeta:     meta,
			C:            c,
			Label:        statusLabel(c),
			Class:        statusClass(c.Status),
			Observations: sortedObservations(c.Observations),
			Environment:  sortedEnv(c.Environment),
		}
		if err := render(filepath.Join(dir, "cells", pages[c]), "cell", v); err != nil {
			return err
		}
	}

	v := indexView{
		siteMeta: meta,
		Matrix:   buildMatrix(sorted, pages),
		Totals:   countStatuses(sorted),
	}
	v.MultiProvider = len(v.Matrix.Providers) > 1
	return render(filepath.Join(dir, "index.html"), "index", v)
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
