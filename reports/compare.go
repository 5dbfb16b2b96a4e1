package reports

import (
	"lab/harness/results"
)

// providerCompare sets a cell's observations beside those of the same
// coordinate (scenario, Examples line, profile) on the run's other
// providers, for the cell page: what each provider measured, so a
// disagreement can be read off the values that differ.
type providerCompare struct {
	// Providers is this cell first, then the other providers by name; each
	// links to the attempt shown (the other providers' worst).
	Providers []providerVerdict
	// Rows is one observation per row, by name; Differ marks a value that
	// is not the same on every provider (a missing one counts).
	Rows []compareRow
	// Ran is what each provider's nodes really ran, read inside them, one
	// "host: fact" per row (the versions of iptables, nft, firewalld...
	// differ when one provider runs the host's binaries and another a node
	// image).
	Ran []compareRow
	// Disagree is the kind of disagreement at this coordinate, or "".
	Disagree string
}

// compareRow is one observation across providers; "" where a provider did
// not record it.
type compareRow struct {
	Name   string
	Values []string
	Differ bool
}

// compareProviders builds the comparison of cell c of r for a page at
// root, or nil when its coordinate ran on no other provider.
func compareProviders(r *runData, c *results.Cell, root string) *providerCompare {
	cells := []*results.Cell{c}
	pc := &providerCompare{Providers: []providerVerdict{cellVerdict(r, c, verdictOf(c), root)}}
	co := &coord{Scenario: c.Scenario, Line: c.Line, Profile: c.Profile, Providers: map[string]*group{}}
	for _, pv := range providersOf(r.Cells) {
		g := r.byKey[results.CellID(c.Scenario, c.Line, c.Profile, pv)]
		if g == nil {
			continue
		}
		if co.First == nil {
			co.First = g
		}
		co.Providers[pv] = g
		if pv != c.Provider {
			cells = append(cells, g.Worst)
			pc.Providers = append(pc.Providers, cellVerdict(r, g.Worst, g.Verdict, root))
		}
	}
	if len(cells) < 2 {
		return nil
	}
	if d := co.disagreement(); d != nil {
		pc.Disagree = d.Kind
	}
	pc.Rows = compareRows(cells, func(x *results.Cell) map[string]string {
		out := map[string]string{}
		for k, v := range x.Observations {
			out[k] = formatValue(v)
		}
		return out
	})
	pc.Ran = compareRows(cells, func(x *results.Cell) map[string]string {
		out := map[string]string{}
		for host, facts := range x.Ran {
			for k, v := range facts {
				out[host+": "+k] = v
			}
		}
		return out
	})
	return pc
}

// cellVerdict is one provider's attempt c with verdict v as a link from a
// page at root.
func cellVerdict(r *runData, c *results.Cell, v, root string) providerVerdict {
	return providerVerdict{Provider: c.Provider, Key: c.Key(), Class: verdictClass(v), Label: v,
		Href: r.cellHref(root, c), Title: cellTitle(c)}
}

// compareRows sets the values of cells side by side, one row per name
// (sorted) that any cell has; "" where a cell lacks it.
func compareRows(cells []*results.Cell, values func(*results.Cell) map[string]string) []compareRow {
	vals := make([]map[string]string, len(cells))
	names := map[string]bool{}
	for i, x := range cells {
		vals[i] = values(x)
		for k := range vals[i] {
			names[k] = true
		}
	}
	var rows []compareRow
	for _, n := range sortedKeys(names) {
		row := compareRow{Name: n}
		for i := range cells {
			row.Values = append(row.Values, vals[i][n])
			if i > 0 && vals[i][n] != row.Values[0] {
				row.Differ = true
			}
		}
		rows = append(rows, row)
	}
	return rows
}
