package feature

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileFeatureFiles is the regression test of rows 12, 14 and 17 of
// issue 13: a directory named x.feature, a FIFO, binary garbage and an
// outline without Examples are one-line errors (or left out), never a
// panic or a hang.
func TestHostileFeatureFiles(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "x.feature"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.feature"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "garbage.feature"), []byte("\x7fELF\x02\x01\x01\x00\x00\x00\n\xff\xfe\n\n\n\n\n\n\n\n\n\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "noexamples.feature"), []byte("Feature: f\n  Scenario Outline: o\n    Given a node \"n\"\n"), 0o644)
	m, err := Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["x"]; ok {
		t.Error("Dir lists a directory named x.feature")
	}
	for name, want := range map[string]string{
		"x.feature":          "not a regular file (a directory)",
		"fifo.feature":       "not a regular file (a named pipe)",
		"garbage.feature":    "not a UTF-8 text file",
		"noexamples.feature": `Scenario Outline "o" has no Examples`,
	} {
		done := make(chan error, 1)
		go func() { _, err := Parse(filepath.Join(dir, name)); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Parse(%s) = %v, want one line containing %q", name, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Parse(%s) blocked", name)
		}
	}
}

// FuzzParse feeds arbitrary text to the feature loader: it returns cells
// or an error, never panics; every cell names a profile and renders a
// source godog can read back.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"Feature: f\n  Scenario Outline: o <profile>\n    Given a node \"n\"\n    Examples:\n      | profile |\n      | p |\n",
		"Feature: f\n  Scenario: s\n    Given x\n",
		"Feature: f\n  Rule: r\n    Background:\n      Given b\n    Scenario Outline: o\n      Given a \"<v>\"\n        \"\"\"\n        doc\n        \"\"\"\n      Examples:\n        | profile | v |\n        | p | 1 |\n",
		"@t\nFeature: f\n  Scenario Outline: o\n    Given t\n      | a | b |\n    Examples:\n      | profile |\n      |  |\n",
		"Feature:\n  Scenario Outline:\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ft, err := ParseBytes("fuzz.feature", data)
		if err != nil {
			return
		}
		for _, c := range ft.Cells {
			if c.Profile == "" {
				t.Errorf("cell at line %d without a profile", c.Line)
			}
			_ = c.Source()
		}
	})
}

// TestCheckTags is the regression test of row 17's `--tags '((('`.
func TestCheckTags(t *testing.T) {
	for _, ok := range []string{"", "@microk8s-4944,@wsl && ~@slow", "dnat", "~@a:b"} {
		if err := CheckTags(ok); err != nil {
			t.Errorf("CheckTags(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"(((", "@a &&", "@a,,@b", "not @a", "@a || @b", "~"} {
		if err := CheckTags(bad); err == nil || !strings.Contains(err.Error(), "bad tag expression") {
			t.Errorf("CheckTags(%q) = %v", bad, err)
		}
	}
}
