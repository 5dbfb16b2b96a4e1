package results

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScanSkipsCorruptCells: one bad file never hides the others (row 9).
func TestScanSkipsCorruptCells(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	s.Put(&Cell{ID: "a.L1.p.netns", Scenario: "a", Status: Passed})
	dir := filepath.Join(s.Dir, "cells")
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"id":"a.L1.p.netns","scenario":"a"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "c.json"), []byte(`{"id":"c","scen`), 0o644)
	os.WriteFile(filepath.Join(dir, "d.json"), []byte(`{"id":"d","scenario":"d","schema_version":99}`), 0o644)
	cells, skipped, err := s.Scan()
	if err != nil || len(cells) != 1 || len(skipped) != 3 {
		t.Fatalf("Scan = %d cells, %v, %v", len(cells), skipped, err)
	}
	for _, sk := range skipped {
		if !strings.HasPrefix(sk.String(), "skipped "+dir) {
			t.Errorf("skip line %q", sk)
		}
	}
}

// TestLockOneOwner: a run directory has one owner at a time (row 3).
func TestLockOneOwner(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	release, err := s.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(); err == nil || !strings.Contains(err.Error(), "in use by another lab process") {
		t.Errorf("second Lock = %v", err)
	}
	if !s.Locked() {
		t.Error("Locked = false while locked")
	}
	release()
	if s.Locked() {
		t.Error("Locked = true after release")
	}
	r2, err := s.Lock()
	if err != nil {
		t.Fatal(err)
	}
	r2()
}

// FuzzDecodeCell feeds arbitrary bytes to the results reader: a cell or an
// error, never a panic; an accepted cell has the file's ID and encodes back.
func FuzzDecodeCell(f *testing.F) {
	c := &Cell{SchemaVersion: 1, ID: "s.L1.p.netns", Scenario: "s", Status: Passed, Observations: map[string]any{"n": 1},
		Steps: []Step{{Keyword: "Given", Text: "x", Line: 3, Status: "passed"}}, Evidence: []Evidence{{Name: "e", Text: "t"}}}
	data, _ := json.Marshal(c)
	f.Add(data)
	f.Add([]byte(`{"id":"s.L1.p.netns","scenario":"s","reproduced":null,"observations":null}`))
	f.Add([]byte(`{"id":"s.L1.p.netns","scenario":"s","started_at":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCell(data, "s.L1.p.netns")
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\x1b") {
				t.Errorf("error not one clean line: %q", err)
			}
			return
		}
		if c.ID != "s.L1.p.netns" || c.Observations == nil {
			t.Errorf("accepted %+v", c)
		}
		if _, err := json.Marshal(c); err != nil {
			t.Errorf("accepted cell does not encode: %v", err)
		}
	})
}
