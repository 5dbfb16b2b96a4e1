package reports

import (
	"encoding/json"
	"fmt"

	"lab/harness/results"
)

// RunIndex is runs/RUN_ID/index.json: the run document (its fields inline)
// plus the totals per verdict (one per cell key, worst attempt), the
// providers the cells ran on, the cells whose verdict differs between
// providers and a summary of every stored cell (attempt).
type RunIndex struct {
	*results.Run
	Totals map[string]int `json:"totals"`
	// Providers lists the providers of the stored cells, sorted.
	Providers []string `json:"providers"`
	// Disagreements is never null: [] when every provider agrees or the
	// run has one provider.
	Disagreements []Disagreement `json:"disagreements"`
	Cells         []CellSummary  `json:"cells"`
}

// CellSummary is one stored cell (one attempt) in a RunIndex.
type CellSummary struct {
	ID         string `json:"id"`
	Key        string `json:"key"`
	Scenario   string `json:"scenario"`
	Profile    string `json:"profile"`
	Provider   string `json:"provider"`
	Attempt    int    `json:"attempt"`
	Status     string `json:"status"`
	Verdict    string `json:"verdict"`
	Reproduced *bool  `json:"reproduced"`
	DurationMS int64  `json:"duration_ms"`
	// Link is the cell's page, relative to the index.json.
	Link string `json:"link"`
}

// runIndex builds the index of a run.
func runIndex(r *runData) RunIndex {
	idx := RunIndex{Run: r.Run, Totals: map[string]int{}, Cells: []CellSummary{},
		Providers: providersOf(r.Cells), Disagreements: disagreements(r.Groups)}
	for _, vc := range countVerdicts(r.Groups) {
		idx.Totals[vc.Verdict] = vc.N
	}
	for _, c := range r.Cells {
		attempt := c.Attempt
		if attempt < 1 {
			attempt = 1
		}
		idx.Cells = append(idx.Cells, CellSummary{
			ID: c.ID, Key: c.Key(), Scenario: c.Scenario, Profile: c.Profile, Provider: c.Provider,
			Attempt: attempt, Status: c.Status, Verdict: verdictOf(c), Reproduced: c.Reproduced,
			DurationMS: c.DurationMS, Link: "cells/" + r.pages[c],
		})
	}
	return idx
}

// writeIndexJSON writes the index of a run to path, atomically.
func writeIndexJSON(path string, r *runData) error {
	data, err := json.MarshalIndent(runIndex(r), "", "  ")
	if err != nil {
		return fmt.Errorf("encode index of %s: %w", r.Run.ID, err)
	}
	if err := results.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
