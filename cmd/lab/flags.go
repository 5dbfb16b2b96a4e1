package main

import (
	"os"
	"path/filepath"
	"strings"

	"lab/harness/feature"
)

// Limits of run and matrix flags: beyond them a run cannot be meant.
const (
	maxRepeat = 1000
	maxJobs   = 100000 // planned attempts of one run
	maxJ      = 256
)

// check validates the flags before anything is planned or created.
func (f *runFlags) check() error {
	if f.jobs < 1 || f.repeat < 1 {
		return usagef("-j and --repeat must be at least 1")
	}
	if f.jobs > maxJ {
		return usagef("-j %d: at most %d cells can run in parallel", f.jobs, maxJ)
	}
	if f.repeat > maxRepeat {
		return usagef("--repeat %d: at most %d attempts per cell; run again with --resume or another run for more", f.repeat, maxRepeat)
	}
	if f.timeout <= 0 {
		return usagef("--timeout must be positive (e.g. 2m)")
	}
	if f.deadline < 0 {
		return usagef("--deadline must be positive (e.g. 3h) or 0 for none")
	}
	if err := checkOut(f.out); err != nil {
		return err
	}
	if f.json != "" {
		if err := checkFileArg("--json", f.json); err != nil {
			return err
		}
	}
	if err := feature.CheckTags(f.tags); err != nil {
		return usagef("--tags: %v", err)
	}
	return nil
}

// checkOut validates a report directory argument: not empty, and if it
// exists, a directory.
func checkOut(out string) error {
	if strings.TrimSpace(out) == "" {
		return usagef("--out is empty; name the report directory (default reports/out)")
	}
	if st, err := os.Stat(out); err == nil && !st.IsDir() {
		return usagef("--out %s is not a directory; name a directory (it is created if missing)", out)
	}
	return nil
}

// checkFileArg validates a file to be written: not a directory, in an
// existing directory (lab does not create directories for it).
func checkFileArg(flag, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("%s %s is a directory; name a file, e.g. %s", flag, path, filepath.Join(path, "cells.json"))
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("%s %s: directory %s does not exist; create it first or name a file in an existing directory", flag, path, dir)
	}
	return nil
}

// unique returns the values without repeats, in first-seen order.
func unique(vals []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vals {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// uniqueFiles drops feature files named twice (also through different
// paths to the same file).
func uniqueFiles(files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		key := f
		if abs, err := filepath.Abs(f); err == nil {
			key = abs
		}
		if r, err := filepath.EvalSymlinks(key); err == nil {
			key = r
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, f)
		}
	}
	return out
}
