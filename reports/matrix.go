package reports

import (
	"fmt"
	"sort"

	"lab/harness/results"
)

// column is one matrix column: a profile, within a provider group.
type column struct {
	Provider, Profile string
	// GroupStart marks the first column of a provider group.
	GroupStart bool
}

// providerGroup is one column group of the matrix header.
type providerGroup struct {
	Provider string
	Span     int
}

// matrixCell is one coordinate of the matrix; Cell is nil when no cell ran there.
type matrixCell struct {
	Cell       *results.Cell
	Class      string
	Label      string
	Href       string
	Title      string
	GroupStart bool
}

// matrixRow is one row: a scenario, or one Examples row of a scenario that
// has several cells in the same column.
type matrixRow struct {
	Scenario string
	Feature  string
	// Example is the expanded scenario name, set when the scenario is split
	// into several rows.
	Example string
	// First marks the first row of a scenario.
	First bool
	Cells []matrixCell
}

// matrix is the laid-out compatibility matrix.
type matrix struct {
	Columns   []column
	Providers []providerGroup
	Rows      []matrixRow
}

// buildMatrix lays out sorted cells: rows are scenarios, columns the union
// of profiles (sorted), repeated per provider. pages maps cells to their page
// file names; hrefs are "cells/<page>".
func buildMatrix(cells []*results.Cell, pages map[*results.Cell]string) matrix {
	var m matrix
	profileSet, providerSet := map[string]bool{}, map[string]bool{}
	for _, c := range cells {
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

	// Group by scenario, keeping the sorted order.
	var order []string
	byScenario := map[string][]*results.Cell{}
	for _, c := range cells {
		if _, ok := byScenario[c.Scenario]; !ok {
			order = append(order, c.Scenario)
		}
		byScenario[c.Scenario] = append(byScenario[c.Scenario], c)
	}
	col := func(c *results.Cell) int { return colIndex[[2]string{c.Provider, c.Profile}] }

	for _, scn := range order {
		group := byScenario[scn]
		feature := ""
		for _, c := range group {
			if c.Feature != "" {
				feature = c.Feature
				break
			}
		}
		keyOf := rowKeyFunc(group, col)
		var keys []string
		rows := map[string]*matrixRow{}
		for _, c := range group {
			k := keyOf(c)
			r, ok := rows[k]
			if !ok {
				r = &matrixRow{Scenario: scn, Feature: feature, Cells: make([]matrixCell, len(m.Columns))}
				if k != "" {
					r.Example = k
				}
				for i := range r.Cells {
					r.Cells[i].GroupStart = m.Columns[i].GroupStart
				}
				rows[k] = r
				keys = append(keys, k)
			}
			i := col(c)
			if r.Cells[i].Cell != nil {
				continue // unreachable: rowKeyFunc guarantees one cell per coordinate
			}
			r.Cells[i] = matrixCell{
				Cell:       c,
				Class:      statusClass(c.Status),
				Label:      statusLabel(c),
				Href:       "cells/" + pages[c],
				Title:      cellTitle(c),
				GroupStart: m.Columns[i].GroupStart,
			}
		}
		for n, k := range keys {
			r := rows[k]
			r.First = n == 0
			m.Rows = append(m.Rows, *r)
		}
	}
	return m
}

// rowKeyFunc decides how a scenario's cells split into rows. With at most one
// cell per column the scenario is a single row (key ""); otherwise rows are
// the expanded scenario names, or names plus Examples line when names collide.
func rowKeyFunc(group []*results.Cell, col func(*results.Cell) int) func(*results.Cell) string {
	collides := func(key func(*results.Cell) string) bool {
		seen := map[string]bool{}
		for _, c := range group {
			k := fmt.Sprintf("%s\x00%d", key(c), col(c))
			if seen[k] {
				return true
			}
			seen[k] = true
		}
		return false
	}
	single := func(*results.Cell) string { return "" }
	byName := func(c *results.Cell) string { return c.Name }
	byLine := func(c *results.Cell) string { return fmt.Sprintf("%s (line %d)", c.Name, c.Line) }
	switch {
	case !collides(single):
		return single
	case !collides(byName):
		return byName
	case !collides(byLine):
		return byLine
	}
	// Identical coordinates, name and line: give every cell its own row.
	index := map[*results.Cell]int{}
	for i, c := range group {
		index[c] = i + 1
	}
	return func(c *results.Cell) string { return fmt.Sprintf("%s (line %d, #%d)", c.Name, c.Line, index[c]) }
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
