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

// column is one matrix column: a profile, within a provider group.
type column struct {
	Provider, Profile string
	// GroupStart marks the first column of a provider group.
	GroupStart bool
	// Pins are the versions the column's cells ran with.
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

// providerGroup is one column group of the matrix header.
type providerGroup struct {
	Provider string
	Span     int
}

// matrixCell is one coordinate of the matrix; Empty when nothing ran there.
type matrixCell struct {
	Empty      bool
	Key        string
	Class      string
	Label      string
	Href       string
	Title      string
	History    strip
	GroupStart bool
}

// matrixRow is one row: a Scenario Outline of the feature (or one Examples
// line of it when an outline has several rows for the same column).
type matrixRow struct {
	Name  string
	Cells []matrixCell
}

// featureGroup is the rows of one feature file (one scenario target).
type featureGroup struct {
	Scenario string
	Feature  string
	Tags     []tagLink
	Badge    string
	Rows     []matrixRow
}

// matrix is the laid-out compatibility matrix of one run.
type matrix struct {
	Columns   []column
	Providers []providerGroup
	Features  []featureGroup
	// Shared is the environment every cell of the run shares (host tools).
	Shared []keyValue
	// Span is the number of table columns (the row names included).
	Span int
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

// buildMatrix lays out runs[idx]: columns are the union of profiles
// (sorted), repeated per provider; rows are grouped by scenario (feature),
// one per outline. root is the path from the page to the site root; every
// cell carries its last n results as a history strip.
func buildMatrix(runs []*runData, idx int, root string, n int) matrix {
	r := runs[idx]
	var m matrix
	profileSet, providerSet := map[string]bool{}, map[string]bool{}
	for _, c := range r.Cells {
		profileSet[c.Profile] = true
		providerSet[c.Provider] = true
	}
	profiles, providers := sortedKeys(profileSet), sortedKeys(providerSet)
	colIndex := map[[2]string]int{}
	for _, pv := range providers {
		m.Providers = append(m.Providers, providerGroup{pv, len(profiles)})
		for i, pf := range profiles {
			colIndex[[2]string{pv, pf}] = len(m.Columns)
			m.Columns = append(m.Columns, column{Provider: pv, Profile: pf, GroupStart: i == 0 && len(providers) > 1})
		}
	}
	m.Span = len(m.Columns) + 1
	col := func(c *results.Cell) int { return colIndex[[2]string{c.Provider, c.Profile}] }
	m.Shared = pinColumns(m.Columns, r.Cells, col)

	var order []string
	byScenario := map[string][]*group{}
	for _, g := range r.Groups {
		scn := g.First().Scenario
		if _, ok := byScenario[scn]; !ok {
			order = append(order, scn)
		}
		byScenario[scn] = append(byScenario[scn], g)
	}
	for _, scn := range order {
		groups := byScenario[scn]
		var cells []*results.Cell
		fg := featureGroup{Scenario: scn, Badge: root + "badges/" + safeName(scn) + ".svg"}
		for _, g := range groups {
			cells = append(cells, g.Attempts...)
			if fg.Feature == "" {
				fg.Feature = g.First().Feature
			}
		}
		fg.Tags = tagLinks(cells)
		names := rowNames(groups, col)
		rows := map[string]int{}
		for _, g := range groups {
			name := names[g]
			ri, ok := rows[name]
			if !ok {
				row := matrixRow{Name: name, Cells: make([]matrixCell, len(m.Columns))}
				for i := range row.Cells {
					row.Cells[i] = matrixCell{Empty: true, GroupStart: m.Columns[i].GroupStart}
				}
				ri = len(fg.Rows)
				rows[name] = ri
				fg.Rows = append(fg.Rows, row)
			}
			i := col(g.First())
			fg.Rows[ri].Cells[i] = matrixCell{
				Key:        g.Key,
				Class:      verdictClass(g.Verdict),
				Label:      g.Label(),
				Href:       r.cellHref(root, g.Worst),
				Title:      cellTitle(g.Worst),
				History:    historyStrip(runs, idx, g.Key, n, root),
				GroupStart: m.Columns[i].GroupStart,
			}
		}
		m.Features = append(m.Features, fg)
	}
	return m
}

// rowNames names the row of every group: its outline (rowName), plus
// " (line N)" for outlines with two groups in the same column.
func rowNames(groups []*group, col func(*results.Cell) int) map[*group]string {
	count := map[string]int{}
	key := func(g *group) string { return fmt.Sprintf("%s\x00%d", rowName(g.First()), col(g.First())) }
	for _, g := range groups {
		count[key(g)]++
	}
	split := map[string]bool{}
	for _, g := range groups {
		if count[key(g)] > 1 {
			split[rowName(g.First())] = true
		}
	}
	out := map[*group]string{}
	for _, g := range groups {
		n := rowName(g.First())
		if split[n] {
			n = fmt.Sprintf("%s (line %d)", n, g.First().Line)
		}
		out[g] = n
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
