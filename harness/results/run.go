package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"lab/harness/inputfile"
)

// Planned is one cell a run intends to execute.
type Planned struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	FeatureFile string `json:"feature_file"`
	Line        int    `json:"line"`
	Profile     string `json:"profile"`
	Provider    string `json:"provider"`
	Attempt     int    `json:"attempt"`
}

// Run describes one run directory: its plan and options, so a killed run
// can be resumed and a report can say how it was made.
type Run struct {
	SchemaVersion int       `json:"schema_version"`
	ID            string    `json:"id"`
	StartedAt     time.Time `json:"started_at"`
	// FinishedAt is zero until every planned cell is stored.
	FinishedAt time.Time `json:"finished_at"`
	Seed       uint64    `json:"seed"`
	Jobs       int       `json:"jobs"`
	Repeat     int       `json:"repeat"`
	TimeoutSec int       `json:"timeout_seconds"`
	Keep       bool      `json:"keep"`
	// Filters record what selected the cells (targets, tags, profiles).
	Filters     map[string][]string `json:"filters,omitempty"`
	Planned     []Planned           `json:"planned"`
	Environment map[string]string   `json:"environment,omitempty"`
}

// PutRun writes the run document atomically.
func (s Store) PutRun(r *Run) error {
	r.SchemaVersion = SchemaVersion
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(s.Dir, "run.json"), append(data, '\n'))
}

// LoadRun reads the run document.
func (s Store) LoadRun() (*Run, error) {
	data, err := inputfile.Read(filepath.Join(s.Dir, "run.json"), MaxDocSize)
	if err != nil {
		return nil, fmt.Errorf("read run: %w", err)
	}
	var r Run
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read run %s: not a run document (%s)", s.Dir, oneLine(err.Error()))
	}
	return &r, nil
}

// RunIDs lists the run directories under dir/runs, oldest first (run IDs
// start with their UTC start time).
func RunIDs(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "runs"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}
