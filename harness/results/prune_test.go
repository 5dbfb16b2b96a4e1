package results

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPruneRetention: the newest N runs and younger ones stay; foreign
// directories, symlinks, protected and locked runs are never removed.
func TestPruneRetention(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	mk := func(name string) string {
		p := filepath.Join(runs, name)
		os.MkdirAll(filepath.Join(p, "cells"), 0o755)
		return p
	}
	for _, id := range []string{"20260101T000000Z-000001", "20260102T000000Z-000002", "20260103T000000Z-000003", "20260104T000000Z-000004", "20260105T000000Z-000005"} {
		mk(id)
	}
	mk("my-notes")
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, "precious"), []byte("x"), 0o644)
	os.Symlink(victim, filepath.Join(runs, "20250101T000000Z-00000a"))
	release, err := Store{Dir: filepath.Join(runs, "20260101T000000Z-000001")}.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	now := time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)
	removed, err := Prune(dir, Retention{KeepRuns: 2}, now, "20260102T000000Z-000002")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != "20260103T000000Z-000003" {
		t.Errorf("removed %v, want only 20260103T000000Z-000003 (01 locked, 02 protected, 04 and 05 newest)", removed)
	}
	removed, _ = Prune(dir, Retention{MaxAge: 36 * time.Hour}, now, "20260102T000000Z-000002")
	if len(removed) != 1 || removed[0] != "20260104T000000Z-000004" {
		t.Errorf("age policy removed %v", removed)
	}
	for _, keep := range []string{"my-notes", "20260105T000000Z-000005", "20260101T000000Z-000001"} {
		if _, err := os.Stat(filepath.Join(runs, keep)); err != nil {
			t.Errorf("%s removed", keep)
		}
	}
	if _, err := os.Stat(filepath.Join(victim, "precious")); err != nil {
		t.Error("retention followed a symlink")
	}
}
