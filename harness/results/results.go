// Package results defines what one cell records and stores it durably: one
// JSON document per cell, written atomically (temp file + rename) when the
// cell ends, so a run killed halfway keeps every finished cell.
package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"lab/harness/inputfile"
)

// Cell statuses.
const (
	Passed  = "passed"  // every expectation of the scenario held
	Failed  = "failed"  // an expectation did not hold
	Error   = "error"   // the lab itself failed (setup, a command, a timeout)
	Skipped = "skipped" // the provider cannot run this cell here; Error says why
)

// Step is one executed step of a cell.
type Step struct {
	Keyword    string `json:"keyword"`
	Text       string `json:"text"`
	Line       int    `json:"line"`
	Status     string `json:"status"` // passed|failed|skipped|undefined|pending
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// Evidence is a named piece of raw material a step captured: a rule dump, a
// command's output, a log.
type Evidence struct {
	Name string `json:"name"`
	// Kind is "rules" for a rule dump (diffed between cells in reports),
	// otherwise "output" or "log"; empty means output.
	Kind string `json:"kind,omitempty"`
	Text string `json:"text"`
}

// Cell is the result of one (feature scenario x profile x provider) run.
type Cell struct {
	SchemaVersion int    `json:"schema_version"`
	ID            string `json:"id"`
	RunID         string `json:"run_id"`
	// Scenario is the feature's base name (the CLI's TARGET), e.g. dnat-stop-start.
	Scenario string `json:"scenario"`
	// Feature is the feature's title, Name the expanded scenario name.
	Feature     string   `json:"feature"`
	Name        string   `json:"name"`
	FeatureFile string   `json:"feature_file"`
	Line        int      `json:"line"` // line of the Examples row
	Tags        []string `json:"tags,omitempty"`
	Profile     string   `json:"profile"`
	Provider    string   `json:"provider"`
	Status      string   `json:"status"`
	// Attempt numbers repeated runs of the same cell (--repeat), from 1.
	Attempt int `json:"attempt"`
	// Verdict reads Status, Reproduced and Expected together (see Verdict).
	Verdict string `json:"verdict"`
	// Reproduced says whether the reported failure was observed; nil when
	// the scenario declares no failure signature or did not get that far.
	Reproduced *bool `json:"reproduced"`
	// Expected is what the Examples row expects of the failure: "present",
	// "absent" or "" when the scenario does not say.
	Expected     string            `json:"expected,omitempty"`
	Observations map[string]any    `json:"observations"`
	Evidence     []Evidence        `json:"evidence,omitempty"`
	Steps        []Step            `json:"steps"`
	Environment  map[string]string `json:"environment,omitempty"`
	// Pinned is what the profile pins but the cell does not run for real
	// (distro, MicroK8s release and snap revision, a kernel profile's
	// release): the profile's assumptions.
	Pinned map[string]string `json:"pinned,omitempty"`
	// PinnedSources is the upstream source (a URL) of each pinned fact, by
	// name, as the profile gives it (sources:).
	PinnedSources map[string]string `json:"pinned_sources,omitempty"`
	// Ran is, per host, what really ran there, read inside the host by
	// the agent: kernel, iptables of both variants, nft, firewalld,
	// iproute2, OS, CNI plugins, the pod network the driver built.
	Ran        map[string]map[string]string `json:"ran,omitempty"`
	Error      string                       `json:"error,omitempty"`
	StartedAt  time.Time                    `json:"started_at"`
	DurationMS int64                        `json:"duration_ms"`
	// Interrupted marks a cell the run stopped (Ctrl-C, a signal, the
	// run's deadline) before it ended: it is never stored, so it is not a
	// result and runs again on --resume.
	Interrupted bool `json:"-"`
}

// Key identifies a cell across attempts and runs: scenario, Examples line,
// profile, provider.
func (c *Cell) Key() string { return CellID(c.Scenario, c.Line, c.Profile, c.Provider) }

// SchemaVersion is the current version of the cell document.
const SchemaVersion = 1

// AttemptID is the stored identifier of one attempt of a cell: the key,
// with ".rN" for attempts after the first.
func AttemptID(key string, attempt int) string {
	if attempt <= 1 {
		return key
	}
	return fmt.Sprintf("%s.r%d", key, attempt)
}

// CellID builds the stable identifier of a cell from its coordinates.
func CellID(scenario string, line int, profile, provider string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
				return r
			}
			return '_'
		}, s)
	}
	return fmt.Sprintf("%s.L%d.%s.%s", clean(scenario), line, clean(profile), clean(provider))
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so readers see the old file or the new one.
func WriteFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Store keeps the cells of one run in a directory: DIR/cells/ID.json.
type Store struct {
	Dir string
}

// Put writes one cell atomically.
func (s Store) Put(c *Cell) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cell %s: %w", c.ID, err)
	}
	p := filepath.Join(s.Dir, "cells", c.ID+".json")
	if err := WriteFileAtomic(p, append(data, '\n')); err != nil {
		return fmt.Errorf("write cell %s: %w", p, err)
	}
	return nil
}

// Load reads every cell of the run, sorted by scenario, line, profile, provider.
func (s Store) Load() ([]*Cell, error) {
	files, err := filepath.Glob(filepath.Join(s.Dir, "cells", "*.json"))
	if err != nil {
		return nil, err
	}
	var cells []*Cell
	for _, f := range files {
		data, err := inputfile.Read(f, MaxDocSize)
		if err != nil {
			return nil, err
		}
		var c Cell
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("read cell %s: %w", f, err)
		}
		cells = append(cells, &c)
	}
	Sort(cells)
	return cells, nil
}

// Sort orders cells by scenario, line, profile and provider.
func Sort(cells []*Cell) {
	sort.SliceStable(cells, func(i, j int) bool {
		a, b := cells[i], cells[j]
		if a.Scenario != b.Scenario {
			return a.Scenario < b.Scenario
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Profile != b.Profile {
			return a.Profile < b.Profile
		}
		return a.Provider < b.Provider
	})
}

// ScenarioMedians returns the median duration in seconds of each
// scenario's cells (by Scenario), e.g. for a benchmark of a whole matrix.
func ScenarioMedians(cells []*Cell) map[string]float64 {
	by := map[string][]int64{}
	for _, c := range cells {
		by[c.Scenario] = append(by[c.Scenario], c.DurationMS)
	}
	out := map[string]float64{}
	for s, d := range by {
		slices.Sort(d)
		m := float64(d[len(d)/2])
		if len(d)%2 == 0 {
			m = float64(d[len(d)/2-1]+d[len(d)/2]) / 2
		}
		out[s] = m / 1000
	}
	return out
}
