package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lab/harness/feature"
	"lab/harness/netnsprov"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
)

// oneLineExit2 checks a command is refused with exit 2 and one line
// containing want, within a few seconds (no hang).
func oneLineExit2(t *testing.T, want string, args ...string) {
	t.Helper()
	type res struct {
		code           int
		stdout, stderr string
	}
	ch := make(chan res, 1)
	go func() { c, o, e := lab(args...); ch <- res{c, o, e} }()
	select {
	case r := <-ch:
		if r.code != exitUsage || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("lab %q: exit %d, stderr %q; want exit 2 and one line containing %q", args, r.code, r.stderr, want)
		}
		if strings.Contains(r.stderr, "\x1b") {
			t.Errorf("lab %q: escape codes on stderr: %q", args, r.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("lab %q blocked", args)
	}
}

// TestHostileInput covers rows 12, 13, 14, 17 and 18 of issue 13: each is
// refused with one line and exit 2 before anything is created.
func TestHostileInput(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "x.feature"), 0o755)
	syscall.Mkfifo(filepath.Join(dir, "fifo.feature"), 0o644)
	os.WriteFile(filepath.Join(dir, "garbage.feature"), []byte("\x1b[2J\x1b]0;owned\x07\n"+strings.Repeat("\x89PNG\r\n\x1a\n", 20)), 0o644)
	os.WriteFile(filepath.Join(dir, "esc.feature"), []byte("Feature: x\n  Scenario Outline: \x1b[31mred\n    Given a node \"n\"\n    Examples:\n      | profile |\n      | p | q |\n"), 0o644)
	noDir := filepath.Join(dir, "nonexistent-dir")
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"not a regular file (a directory)", []string{"run", filepath.Join(dir, "x.feature"), "--out", out}},
		{"not a regular file (a named pipe)", []string{"run", filepath.Join(dir, "fifo.feature"), "--out", out}},
		{"not a UTF-8 text file", []string{"run", filepath.Join(dir, "garbage.feature"), "--out", out}},
		{"inconsistent cell count", []string{"run", filepath.Join(dir, "esc.feature"), "--out", out}},
		{"--repeat 1000000000: at most 1000 attempts per cell", []string{"run", "dnat-stop-start", "--repeat", "1000000000", "--out", out}},
		{"-j 100000: at most 256", []string{"matrix", "-j", "100000", "--out", out}},
		{`bad tag expression "((("`, []string{"matrix", "--tags", "(((", "--out", out}},
		{"--out is empty", []string{"run", "dnat-stop-start", "--out", ""}},
		{"directory " + noDir + " does not exist", []string{"run", "dnat-stop-start", "--out", out, "--json", filepath.Join(noDir, "x.json")}},
		{"is a directory; name a file", []string{"run", "dnat-stop-start", "--out", out, "--json", dir}},
		{"--out is empty", []string{"report", "--out", ""}},
		{`--run "../x" is not a run id`, []string{"report", "--out", dir, "--run", "../x"}},
	} {
		oneLineExit2(t, tc.want, tc.args...)
	}
	for _, p := range []string{noDir, out} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("bad input created %s", p)
		}
	}
}

// TestResumeRefusals covers rows 1, 2 and 3 of issue 13: a crafted id,
// a copied run and a live run are refused with exit 2, touching nothing.
func TestResumeRefusals(t *testing.T) {
	out := t.TempDir()
	a, b := "20250101T000000Z-0a0a0a", "20250101T000000Z-0b0b0b"
	for _, id := range []string{a, b} {
		st := results.Store{Dir: filepath.Join(out, "runs", id)}
		if err := st.PutRun(&results.Run{ID: a}); err != nil { // b is a copy of a
			t.Fatal(err)
		}
	}
	crafted := "20250101T000000Z-0c0c0c"
	os.MkdirAll(filepath.Join(out, "runs", crafted), 0o755)
	os.WriteFile(filepath.Join(out, "runs", crafted, "run.json"), []byte(`{"id":"20250101T000000Z-../../../tmp/v"}`), 0o644)
	oneLineExit2(t, `bad run id "20250101T000000Z-../../../tmp/v"`, "matrix", "--resume", "20250101T000000Z-../../../tmp/v", "--out", out)
	oneLineExit2(t, `bad run id "20250101T000000Z-.."`, "matrix", "--resume", "20250101T000000Z-..", "--out", out)
	oneLineExit2(t, `belongs to run "20250101T000000Z-../../../tmp/v"`, "matrix", "--resume", crafted, "--out", out)
	oneLineExit2(t, `belongs to run "`+a+`" (a copied or renamed run directory)`, "matrix", "--resume", b, "--out", out)
	release, err := results.Store{Dir: filepath.Join(out, "runs", a)}.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	oneLineExit2(t, "run "+a+" is still running", "matrix", "--resume", a, "--out", out)
	oneLineExit2(t, "nightly starts a new run", "nightly", "--resume", a, "--out", out, "--site", t.TempDir())
}

// TestDuplicatesAreOneCell covers row 4: a target or provider named twice
// plans each cell once.
func TestDuplicatesAreOneCell(t *testing.T) {
	d, err := defaultDirs()
	if err != nil {
		t.Fatal(err)
	}
	f := runFlags{repeat: 2, jobs: 1, providers: unique(multiFlag{"netns", "netns"})}
	provs := []provider.Provider{netnsprov.New()}
	if len(f.providers) != 1 {
		t.Fatalf("providers %v", f.providers)
	}
	doc, jobs, err := newPlan(d, []string{"dnat-stop-start", "dnat-stop-start", filepath.Join(d.features, "dnat-stop-start.feature")}, f, provs)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range doc.Planned {
		if seen[p.ID] {
			t.Errorf("cell %s planned twice", p.ID)
		}
		seen[p.ID] = true
	}
	// every Examples row of the feature once, twice (--repeat 2)
	rows := 0
	for _, l := range strings.Split(string(must(os.ReadFile(filepath.Join(d.features, "dnat-stop-start.feature")))), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "| microk8s-") {
			rows++
		}
	}
	if rows == 0 || len(jobs) != 2*rows {
		t.Errorf("%d jobs, want %d (%d Examples rows x 2 attempts)", len(jobs), 2*rows, rows)
	}
}

// TestSecondSignalSaysWhatItAbandons covers the guarantee: the first
// signal cancels (teardown runs), the second exits naming what it leaves.
func TestSecondSignalSaysWhatItAbandons(t *testing.T) {
	var buf bytes.Buffer
	code := -1
	in := &interrupts{stderr: &buf, exit: func(c int) { code = c }}
	cancelled := false
	in.abandons = func() string { return "2 running cell(s) of run R" }
	in.handle(syscall.SIGINT, 1, true, func() { cancelled = true })
	if !cancelled || code != -1 {
		t.Fatalf("first signal: cancelled %v, exit %d", cancelled, code)
	}
	in.handle(syscall.SIGINT, 2, true, func() {})
	if code != 130 || !strings.Contains(buf.String(), "second interrupt: abandoning teardown: 2 running cell(s) of run R") {
		t.Errorf("second signal: exit %d, %q", code, buf.String())
	}
	code = -1
	(&interrupts{stderr: &buf, exit: func(c int) { code = c }}).handle(syscall.SIGHUP, 1, false, func() {})
	if code != 129 {
		t.Errorf("a command that creates nothing did not exit at once on SIGHUP: %d", code)
	}
	if len(stopSignals) != 4 {
		t.Errorf("stop signals %v, want INT, TERM, HUP, QUIT", stopSignals)
	}
}

// TestTerminalSafe covers row 20: escape codes from command output are
// shown, not interpreted.
func TestTerminalSafe(t *testing.T) {
	in := "ok\x1b[2J\x1b]0;title\x07 \xff\u009b31m\nnext\tline"
	if got := terminalSafe(in, true); strings.ContainsAny(got, "\x1b\x07\u009b") || !strings.Contains(got, `\x1b[2J`) || !strings.Contains(got, "\nnext\tline") {
		t.Errorf("terminalSafe = %q", got)
	}
	if got := oneLine("a\nb\x1b"); got != `a; b\x1b` {
		t.Errorf("oneLine = %q", got)
	}
	var b bytes.Buffer
	p := newProgress(&b, 1, false)
	c := &results.Cell{Status: results.Error, Verdict: results.VerdictInfra, Error: "boom \x1b[31mred\x1b[0m\nsecond"}
	p.event(eventFor(c))
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("progress line carries escape codes: %q", b.String())
	}
}

func eventFor(c *results.Cell) runner.Event {
	return runner.Event{Job: runner.Job{Cell: feature.Cell{Scenario: "s", Line: 1, Profile: "p"}, Provider: netnsprov.New(), Attempt: 1}, Result: c}
}

// TestListEscapesProfileText: text from files (a profile description with
// an escape code) is shown escaped by list.
func TestListEscapesProfileText(t *testing.T) {
	var b bytes.Buffer
	w := safeWriter{&b}
	w.Write([]byte("  p\tdesc \x1b]0;owned\x07\n"))
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), "\tdesc \\x1b]0;owned\\x07\n") {
		t.Errorf("safeWriter = %q", b.String())
	}
}

// must returns v, panicking on err (test inputs that must exist).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
