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
	names := map[string]bool{}
	for _, x := range cells {
		for k := range x.Observations {
			names[k] = true
		}
	}
	for _, n := range sortedKeys(names) {
		row := compareRow{Name: n}
		for i, x := range cells {
			v := ""
			if val, ok := x.Observations[n]; ok {
				v = formatValue(val)
			}
			row.Values = append(row.Values, v)
			if i > 0 && v != row.Values[0] {
				row.Differ = true
			}
		}
		pc.Rows = append(pc.Rows, row)
	}
	return pc
}

// cellVerdict is one provider's attempt c with verdict v as a link from a
// page at root.
func cellVerdict(r *runData, c *results.Cell, v, root string) providerVerdict {
	return providerVerdict{Provider: c.Provider, Key: c.Key(), Class: verdictClass(v), Label: v,
		Href: r.cellHref(root, c), Title: cellTitle(c)}
}
