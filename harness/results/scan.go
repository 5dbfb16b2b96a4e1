package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"lab/harness/inputfile"
)

// MaxDocSize bounds a stored cell or run document (64 MiB).
const MaxDocSize = 64 << 20

// SkippedFile is a file in a run directory that is not a readable document:
// truncated, empty, garbage, foreign or not a regular file.
type SkippedFile struct {
	Path   string
	Reason string
}

// String is the one-line report of a skipped file.
func (s SkippedFile) String() string {
	return fmt.Sprintf("skipped %s: %s", s.Path, s.Reason)
}

// DecodeCell reads a cell document; name is the file's base name without
// .json, which must be the cell's ID (a foreign or renamed file is not a
// cell of this run).
func DecodeCell(data []byte, name string) (*Cell, error) {
	var c Cell
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("not a cell document (%s)", oneLine(err.Error()))
	}
	switch {
	case c.ID == "" || c.Scenario == "":
		return nil, errors.New("not a cell document (no id or scenario)")
	case c.ID != name:
		return nil, fmt.Errorf("holds cell %q, not %q (a foreign or renamed file)", oneLine(c.ID), name)
	case c.SchemaVersion > SchemaVersion:
		return nil, fmt.Errorf("schema_version %d is newer than this lab's %d; use a newer lab", c.SchemaVersion, SchemaVersion)
	}
	if c.Observations == nil {
		c.Observations = map[string]any{}
	}
	return &c, nil
}

// Scan reads every cell of the run like Load, but skips (and returns) the
// files that are not readable cell documents instead of failing: one bad
// file never hides the rest of the run.
func (s Store) Scan() ([]*Cell, []SkippedFile, error) {
	files, err := filepath.Glob(filepath.Join(s.Dir, "cells", "*.json"))
	if err != nil {
		return nil, nil, err
	}
	var cells []*Cell
	var skipped []SkippedFile
	for _, f := range files {
		data, err := inputfile.Read(f, MaxDocSize)
		if err == nil {
			var c *Cell
			if c, err = DecodeCell(data, strings.TrimSuffix(filepath.Base(f), ".json")); err == nil {
				cells = append(cells, c)
				continue
			}
		}
		skipped = append(skipped, SkippedFile{Path: f, Reason: oneLine(err.Error())})
	}
	Sort(cells)
	return cells, skipped, nil
}

// LockedError says another process holds a run directory.
type LockedError struct{ Dir string }

// Error names the locked directory and what to do.
func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is in use by another lab process (a run still running, or resuming it); wait for it to end", e.Dir)
}

// Lock takes the run directory for this process (an exclusive flock on
// DIR/.lock, released when the process ends, however it ends). A second
// owner gets a *LockedError. release unlocks.
func (s Store) Lock() (release func(), err error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock run directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: s.Dir}
		}
		return nil, fmt.Errorf("lock run directory %s: %w", s.Dir, err)
	}
	return func() { f.Close() }, nil
}

// Locked reports whether another process holds the run directory's lock.
func (s Store) Locked() bool {
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	return false
}

// oneLine keeps an error on one line: control characters become spaces,
// and it is cut at 200 runes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
