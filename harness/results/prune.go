package results

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// runDirPattern matches the directory names Prune may delete: run IDs.
var runDirPattern = regexp.MustCompile(`^([0-9]{8}T[0-9]{6}Z)-[0-9a-f]{6}$`)

// Retention says which stored runs to keep: the newest KeepRuns (0: no
// count limit) and those younger than MaxAge (0: no age limit). A run is
// removed when it falls outside either limit.
type Retention struct {
	KeepRuns int
	MaxAge   time.Duration
}

// Prune removes from dir/runs the runs the policy does not keep, oldest
// first, and returns their IDs. It only ever removes real directories named
// like run IDs (never a symlink's target, never a foreign directory), never
// a run in protect and never a run whose lock another process holds.
func Prune(dir string, p Retention, now time.Time, protect ...string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "runs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, id := range protect {
		keep[id] = true
	}
	type run struct {
		id      string
		started time.Time
	}
	var runs []run
	for _, e := range ents {
		m := runDirPattern.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		t, err := time.Parse("20060102T150405Z", m[1])
		if err != nil {
			continue
		}
		runs = append(runs, run{e.Name(), t})
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].id > runs[j].id }) // newest first
	var removed []string
	var errs []error
	for i, r := range runs {
		tooMany := p.KeepRuns > 0 && i >= p.KeepRuns
		tooOld := p.MaxAge > 0 && now.Sub(r.started) > p.MaxAge
		if keep[r.id] || !(tooMany || tooOld) {
			continue
		}
		s := Store{Dir: filepath.Join(dir, "runs", r.id)}
		if s.Locked() {
			continue // a live run
		}
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, fmt.Errorf("retention: remove %s: %w", s.Dir, err))
			continue
		}
		removed = append(removed, r.id)
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}
