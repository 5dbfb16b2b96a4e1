package reports

import (
	"fmt"
	"sort"
	"strings"

	"lab/harness/results"
)

// pinnedKeys are the environment entries a profile pins, shown in the
// column headers in this order (snap_revision joins microk8s).
var pinnedKeys = []string{"microk8s", "distro", "kernel", "kernel_profile", "kernel_missing", "iptables_mode", "cni", "firewall", "driver"}

// column is one matrix column of a feature: a profile the feature has an
// Examples row for.
type column struct {
	Profile string
	// Pins are the versions the profile's cells ran with.
	Pins []pin
}

// pin is one pinned version in a column header; Value is shortened for
// the header, Full is the whole value (shown on hover).
type pin struct {
	Name, Value, Full string
}

// shortPin shortens a header value: long lists to their first item and a
// count, other long values to 40 characters.
func shortPin(v string) string {
	if items := strings.Split(v, ","); len(items) > 3 {
		return fmt.Sprintf("%s, +%d more", items[0], len(items)-1)
	}
	return truncate(v, 40)
}

// providerVerdict is one provider's result at a matrix coordinate;
// Missing when the provider did not run it.
type providerVerdict struct {
	Provider string
	Missing  bool
	Key      string
	Class    string
	Label    string
	Href     string
	Title    string
	History  strip
}

// matrixCell is one coordinate of the matrix: the verdict of every provider
// of the run, in provider order; Empty when nothing ran there.
type matrixCell struct {
	Empty    bool
	Verdicts []providerVerdict
	// Disagree is the kind of disagreement between providers at this
	// coordinate (DisagreeOutcome, DisagreeLab), "" when they agree.
	Disagree string
}

// matrixRow is one row: a Scenario Outline of the feature (or one Examples
// line of it when an outline has several rows for the same column).
type matrixRow struct {
	Name  string
	Cells []matrixCell
}

// featureGroup is the rows of one feature file (one scenario target), with
// the columns of its own profiles only.
type featureGroup struct {
	Scenario string
	Feature  string
	Tags     []tagLink
	Badge    string
	Columns  []column
	Rows     []matrixRow
	// Span is the number of table columns (the row names included).
	Span int
}

// disagreementView is one disagreement as the matrix page lists it.
type disagreementView struct {
	Kind     string
	Scenario string
	Name     string
	Profile  string
	Line     int
	Verdicts []providerVerdict
}

// matrix is the laid-out compatibility matrix of one run.
type matrix struct {
	// Providers are the run's providers, sorted; each cell shows them side
	// by side in this order when there are several.
	Providers []string
	Features  []featureGroup
	// Disagreements are the coordinates whose verdict differs between
	// providers, outcome disagreements first.
	Disagreements []disagreementView
	// Shared is the environment every cell of the run shares (host tools).
	Shared []keyValue
}

// rowName is the name of the Scenario Outline a cell was expanded from: its
// name with the profile replaced by "<profile>" and a trailing
// " on <profile>" dropped.
func rowName(c *results.Cell) string {
	n := c.Name
	if n == "" {
		return fmt.Sprintf("line %d", c.Line)
	}
	if c.Profile != "" {
		n = strings.ReplaceAll(n, c.Profile, "<profile>")
	}
	if t := strings.TrimSuffix(n, " on <profile>"); t != "" {
		n = t
	}
	return n
}

// buildMatrix lays out runs[idx]: one table per feature (scenario), whose
// columns are the profiles that feature ran (sorted) and whose rows are its
// outlines; every cell holds the verdict of each provider of the run side
// by side. root is the path from the page to the site root; every verdict
// carries its last n results as a history strip.
func buildMatrix(runs []*runData, idx int, root string, n int) matrix {
	r := runs[idx]
	m := matrix{Providers: providersOf(r.Cells)}
	profiles := distinct(r.Cells, func(c *results.Cell) string { return c.Profile })
	profCols := make([]column, len(profiles))
	profIndex := map[string]int{}
	for i, pf := range profiles {
		profCols[i] = column{Profile: pf}
		profIndex[pf] = i
	}
	m.Shared = pinColumns(profCols, r.Cells, func(c *results.Cell) int { return profIndex[c.Profile] })

	verdictAt := func(co *coord, pv string) providerVerdict {
		g := co.Providers[pv]
		if g == nil {
			return providerVerdict{Provider: pv, Missing: true, Class: "missing", Label: "not run"}
		}
		return providerVerdict{
			Provider: pv,
			Key:      g.Key,
			Class:    verdictClass(g.Verdict),
			Label:    g.Label(),
			Href:     r.cellHref(root, g.Worst),
			Title:    pv + ": " + cellTitle(g.Worst),
			History:  historyStrip(runs, idx, g.Key, n, root),
		}
	}
	var order []string
	byScenario := map[string][]*coord{}
	for _, co := range coords(r.Groups) {
		if _, ok := byScenario[co.Scenario]; !ok {
			order = append(order, co.Scenario)
		}
		byScenario[co.Scenario] = append(byScenario[co.Scenario], co)
	}
	for _, scn := range order {
		cos := byScenario[scn]
		fg := featureGroup{Scenario: scn, Badge: root + "badges/" + safeName(scn) + ".svg"}
		var cells []*results.Cell
		mine := map[string]bool{}
		for _, co := range cos {
			mine[co.Profile] = true
			for _, g := range co.Providers {
				cells = append(cells, g.Attempts...)
				if fg.Feature == "" {
					fg.Feature = g.First().Feature
				}
			}
		}
		results.Sort(cells)
		fg.Tags = tagLinks(cells)
		col := map[string]int{}
		for _, pf := range profiles {
			if mine[pf] {
				col[pf] = len(fg.Columns)
				fg.Columns = append(fg.Columns, profCols[profIndex[pf]])
			}
		}
		fg.Span = len(fg.Columns) + 1
		names := rowNames(cos)
		rows := map[string]int{}
		for _, co := range cos {
			name := names[co]
			ri, ok := rows[name]
			if !ok {
				row := matrixRow{Name: name, Cells: make([]matrixCell, len(fg.Columns))}
				for i := range row.Cells {
					row.Cells[i] = matrixCell{Empty: true}
				}
				ri = len(fg.Rows)
				rows[name] = ri
				fg.Rows = append(fg.Rows, row)
			}
			d := co.disagreement()
			mc := matrixCell{}
			if d != nil {
				mc.Disagree = d.Kind
			}
			for _, pv := range m.Providers {
				mc.Verdicts = append(mc.Verdicts, verdictAt(co, pv))
			}
			fg.Rows[ri].Cells[col[co.Profile]] = mc
			if d != nil {
				dv := disagreementView{Kind: d.Kind, Scenario: d.Scenario, Name: name, Profile: d.Profile, Line: d.Line}
				for _, pv := range sortedKeys(boolSet(co.Providers)) {
					dv.Verdicts = append(dv.Verdicts, verdictAt(co, pv))
				}
				m.Disagreements = append(m.Disagreements, dv)
			}
		}
		m.Features = append(m.Features, fg)
	}
	sort.SliceStable(m.Disagreements, func(i, j int) bool {
		return m.Disagreements[i].Kind == DisagreeOutcome && m.Disagreements[j].Kind != DisagreeOutcome
	})
	return m
}

// rowNames names the row of every coordinate: its outline (rowName), plus
// " (line N)" for outlines with two Examples rows for the same profile.
func rowNames(cos []*coord) map[*coord]string {
	count := map[string]int{}
	key := func(co *coord) string { return rowName(co.First.First()) + "\x00" + co.Profile }
	for _, co := range cos {
		count[key(co)]++
	}
	split := map[string]bool{}
	for _, co := range cos {
		if count[key(co)] > 1 {
			split[rowName(co.First.First())] = true
		}
	}
	out := map[*coord]string{}
	for _, co := range cos {
		n := rowName(co.First.First())
		if split[n] {
			n = fmt.Sprintf("%s (line %d)", n, co.Line)
		}
		out[co] = n
	}
	return out
}

// pinColumns fills every column's Pins from its cells' environment: the
// pinned keys, and any other key whose value differs between cells. It
// returns the entries every cell shares, which the page shows once.
func pinColumns(cols []column, cells []*results.Cell, col func(*results.Cell) int) []keyValue {
	pinned := map[string]bool{"snap_revision": true, "provider": true}
	for _, k := range pinnedKeys {
		pinned[k] = true
	}
	values := map[string]map[string]bool{} // key -> values over all cells
	present := map[string]int{}
	for _, c := range cells {
		for k, v := range columnEnv(c) {
			if values[k] == nil {
				values[k] = map[string]bool{}
			}
			values[k][v] = true
			present[k]++
		}
	}
	var shared []keyValue
	var varying []string
	for _, k := range sortedKeys(boolSet(values)) {
		if pinned[k] {
			continue
		}
		if len(values[k]) == 1 && present[k] == len(cells) {
			for v := range values[k] {
				shared = append(shared, keyValue{k, v})
			}
		} else {
			varying = append(varying, k)
		}
	}
	keys := append(append([]string{}, pinnedKeys...), varying...)
	for i := range cols {
		var mine []*results.Cell
		for _, c := range cells {
			if col(c) == i {
				mine = append(mine, c)
			}
		}
		for _, k := range keys {
			v := columnValue(mine, k)
			if k == "microk8s" {
				if rev := columnValue(mine, "snap_revision"); rev != "" {
					v = strings.TrimSpace(v + " rev " + rev)
				}
			}
			if v != "" {
				cols[i].Pins = append(cols[i].Pins, pin{k, shortPin(v), v})
			}
		}
	}
	return shared
}

// columnValue joins the distinct values of key among cells ("a | b").
func columnValue(cells []*results.Cell, key string) string {
	set := map[string]bool{}
	for _, c := range cells {
		if v := columnEnv(c)[key]; v != "" {
			set[v] = true
		}
	}
	return strings.Join(sortedKeys(set), " | ")
}

// boolSet turns the keys of any string-keyed map into a set.
func boolSet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// cellTitle is the hover text of a matrix cell.
func cellTitle(c *results.Cell) string {
	t := c.Name
	if c.Status != results.Passed {
		if r := firstLine(reason(c), 200); r != "" {
			t += ": " + r
		}
	}
	return t
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// columnEnv is what a column header shows of a cell: the profile's pins
// (cells from before pins were recorded apart keep them in Environment),
// never the measured per-node facts, which the cell page shows.
func columnEnv(c *results.Cell) map[string]string {
	if len(c.Pinned) == 0 {
		return c.Environment
	}
	out := map[string]string{}
	for k, v := range c.Pinned {
		if k != "profile" {
			out[k] = v
		}
	}
	if p := c.Environment["provider"]; p != "" {
		out["provider"] = p
	}
	return out
}
