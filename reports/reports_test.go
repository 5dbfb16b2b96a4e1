package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/results"
)

const xss = `<script>alert(1)</script>`

func boolp(b bool) *bool { return &b }

// fixture is 2 scenarios x 3 profiles with one cell of each status, one
// coordinate left empty and hostile text in the failed cell.
func fixture() []*results.Cell {
	mk := func(scn string, line int, profile, status string) *results.Cell {
		return &results.Cell{
			SchemaVersion: results.SchemaVersion,
			ID:            results.CellID(scn, line, profile, "netns"),
			RunID:         "run-1",
			Scenario:      scn,
			Feature:       "Feature of " + scn,
			Name:          scn + " on " + profile,
			FeatureFile:   "features/" + scn + ".feature",
			Line:          line,
			Tags:          []string{"@iptables", "@slow"},
			Profile:       profile,
			Provider:      "netns",
			Status:        status,
			Observations:  map[string]any{},
			Steps: []results.Step{
				{Keyword: "Given ", Text: "a node", Line: 5, Status: "passed", DurationMS: 10},
			},
			Environment: map[string]string{"kernel": "6.8"},
			StartedAt:   time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
			DurationMS:  1500,
		}
	}
	a1 := mk("dnat-stop-start", 20, "microk8s-1.32.2", results.Passed)
	a1.Reproduced = boolp(true)
	a1.Expected = "present"
	a1.Observations = map[string]any{"stale_chains": float64(3), "backend": "legacy"}
	a2 := mk("dnat-stop-start", 21, "microk8s-1.32.3", results.Passed)
	a2.Reproduced = boolp(false)
	a2.Expected = "absent"
	a2.Observations = map[string]any{"stale_chains": float64(0)}
	a3 := mk("dnat-stop-start", 22, "microk8s-1.33.0", results.Failed)
	a3.Reproduced = boolp(true)
	a3.Steps = append(a3.Steps, results.Step{Keyword: "Then ", Text: "no stale " + xss, Line: 9, Status: "failed", Error: "boom " + xss, DurationMS: 5})
	a3.Evidence = []results.Evidence{{Name: "iptables-save " + xss, Text: "-A KUBE " + xss}}
	a3.Observations = map[string]any{"note": xss}
	a3.Environment["weird"] = xss
	b1 := mk("rhel-firewalld", 7, "microk8s-1.32.2", results.Error)
	b1.Error = "setup timed out"
	b2 := mk("rhel-firewalld", 8, "microk8s-1.32.3", results.Skipped)
	b2.Error = "needs a VM provider"
	return []*results.Cell{b2, a3, a1, b1, a2}
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWriteJUnit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := WriteJUnit(path, "lab", fixture()); err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, path)
	var got junitSuites
	if err := xml.Unmarshal(data, &got); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got.Name != "lab" || got.Tests != 5 || got.Failures != 1 || got.Errors != 1 || got.Skipped != 1 {
		t.Errorf("totals = %+v", got)
	}
	if len(got.Suites) != 2 {
		t.Fatalf("suites = %d", len(got.Suites))
	}
	dnat, rhel := got.Suites[0], got.Suites[1]
	if dnat.Name != "dnat-stop-start" || dnat.Tests != 3 || dnat.Failures != 1 || dnat.Errors != 0 || dnat.Skipped != 0 || dnat.Time != "4.500" {
		t.Errorf("dnat suite = %+v", dnat)
	}
	if rhel.Tests != 2 || rhel.Errors != 1 || rhel.Skipped != 1 || rhel.Failures != 0 {
		t.Errorf("rhel suite = %+v", rhel)
	}
	var failure *junitOutcome
	for _, c := range dnat.Cases {
		if c.ClassName != "dnat-stop-start.netns" {
			t.Errorf("classname %q", c.ClassName)
		}
		if c.Failure != nil {
			failure = c.Failure
			if c.Name != "dnat-stop-start on microk8s-1.33.0 [microk8s-1.33.0/netns]" {
				t.Errorf("name %q", c.Name)
			}
		}
	}
	if failure == nil || failure.Message != "boom "+xss {
		t.Errorf("failure = %+v", failure)
	}
	if s := dnat.Cases[0].SystemOut; s == nil || !strings.Contains(s.Text, "stale_chains=3") {
		t.Errorf("system-out = %+v", s)
	}
	if sk := rhel.Cases[1].Skipped; sk == nil || sk.Message != "needs a VM provider" {
		t.Errorf("skipped = %+v", sk)
	}
	assertNoRaw(t, map[string]string{path: string(data)})
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cells.json")
	in := fixture()
	if err := WriteJSON(path, in); err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, path)
	var out []results.Cell
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("got %d cells", len(out))
	}
	byID := map[string]results.Cell{}
	for _, c := range out {
		byID[c.ID] = c
	}
	for _, c := range in {
		got, ok := byID[c.ID]
		if !ok {
			t.Fatalf("missing %s", c.ID)
		}
		a, _ := json.Marshal(c)
		b, _ := json.Marshal(got)
		if !bytes.Equal(a, b) {
			t.Errorf("round trip of %s differs:\n%s\n%s", c.ID, a, b)
		}
	}
	assertNoRaw(t, map[string]string{path: string(data)})

	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := WriteJSON(empty, nil); err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(string(mustRead(t, empty))); s != "[]" {
		t.Errorf("empty = %q", s)
	}
}

func TestTerminal(t *testing.T) {
	var buf bytes.Buffer
	Terminal(&buf, fixture())
	out := buf.String()
	for _, want := range []string{
		"SCENARIO", "REPRODUCED",
		"2 passed, 1 failed, 1 errors, 1 skipped",
		"backend=legacy stale_chains=3",
		"setup timed out",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 {
		t.Errorf("want header + 5 rows + totals, got %d lines:\n%s", len(lines), out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertNoRaw(t *testing.T, files map[string]string) {
	t.Helper()
	for p, s := range files {
		if strings.Contains(s, xss) || strings.Contains(s, "<script") {
			t.Errorf("%s contains unescaped script", p)
		}
	}
}
