package main

import (
	"os"
	"path/filepath"

	"lab/harness/feature"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
)

// resumePlan reloads a run's plan and keeps the jobs without a stored cell
// (cells cut short by an interrupt were never stored, so they run again).
// The run is identified by its directory, which must be the run's own: an
// ID that is not a run ID, or a run.json naming another run (a copied
// directory), is refused before anything is touched.
func resumePlan(d dirs, f runFlags, provs []provider.Provider) (*results.Run, []runner.Job, error) {
	if err := runner.CheckRunID(f.resume); err != nil {
		return nil, nil, usagef("cannot resume: %v", err)
	}
	store := results.Store{Dir: filepath.Join(f.out, "runs", f.resume)}
	if st, err := os.Lstat(store.Dir); err != nil || !st.IsDir() {
		return nil, nil, usagef("cannot resume %s: no run directory %s (is --out right? see ls %s)", f.resume, store.Dir, filepath.Join(f.out, "runs"))
	}
	doc, err := store.LoadRun()
	if err != nil {
		return nil, nil, usagef("cannot resume %s: %v", f.resume, err)
	}
	if doc.ID != f.resume {
		return nil, nil, usagef("cannot resume %s: its run.json belongs to run %q (a copied or renamed run directory); resume the original run where it was written, or remove the copy", f.resume, printableID(doc.ID))
	}
	if store.Locked() {
		return nil, nil, usagef("run %s is still running (%s is locked by its process); wait for it to end or stop it", f.resume, store.Dir)
	}
	cells, _, err := store.Scan()
	if err != nil {
		return nil, nil, usagef("cannot resume %s: %v", f.resume, err)
	}
	stored := map[string]bool{}
	for _, c := range cells {
		stored[c.ID] = true
	}
	byName := map[string]provider.Provider{}
	for _, p := range provs {
		byName[p.Name()] = p
	}
	parsed := map[string]*feature.Feature{}
	seen := map[string]bool{}
	var jobs []runner.Job
	for i, pl := range doc.Planned {
		if stored[pl.ID] || seen[pl.ID] {
			continue
		}
		seen[pl.ID] = true
		ft, ok := parsed[pl.FeatureFile]
		if !ok {
			if ft, err = feature.Parse(pl.FeatureFile); err != nil {
				return nil, nil, usagef("cannot resume: %v", err)
			}
			parsed[pl.FeatureFile] = ft
		}
		p, ok := byName[pl.Provider]
		if !ok {
			mk, known := providers[pl.Provider]
			if !known {
				return nil, nil, usagef("cannot resume: unknown provider %q", pl.Provider)
			}
			p = mk()
		}
		found := false
		for _, c := range ft.Cells {
			if c.Line == pl.Line && c.Profile == pl.Profile {
				j := runner.Job{Index: i, Cell: c, Provider: p, Attempt: pl.Attempt}
				if j.ID() != pl.ID {
					return nil, nil, usagef("cannot resume: planned cell %q does not match %s:%d [%s] (run.json edited or the feature renamed)", printableID(pl.ID), pl.FeatureFile, pl.Line, pl.Profile)
				}
				jobs = append(jobs, j)
				found = true
				break
			}
		}
		if !found {
			return nil, nil, usagef("cannot resume: %s:%d [%s] no longer exists (the feature changed)", pl.FeatureFile, pl.Line, pl.Profile)
		}
	}
	return doc, jobs, nil
}

// printableID renders an ID read from a file for a one-line message.
func printableID(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return terminalSafe(s, false)
}
