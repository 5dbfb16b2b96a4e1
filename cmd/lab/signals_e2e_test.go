package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lab/harness/results"
	"lab/harness/runner"
)

// stateDirOf is the state directory of a run.
func stateDirOf(id string) string {
	return filepath.Join(runner.StateRoot, strings.TrimPrefix(runner.Prefix(id), runner.NamespacePrefix))
}

// TestSignalsTearDown covers row 10 of issue 13: SIGHUP and SIGQUIT, like
// SIGINT and SIGTERM, stop the run and tear everything down.
func TestSignalsTearDown(t *testing.T) {
	bin, env := buildLab(t)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT} {
		out := t.TempDir()
		cmd := exec.Command(bin, "matrix", "dnat-stop-start", "-j", "1", "--out", out)
		cmd.Env = env
		var buf strings.Builder
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitForCell(t, cmd, out)
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%v: want exit 1 after teardown, got %v\n%s", sig, err, buf.String())
		}
		ids, _ := results.RunIDs(out)
		if left := leftNamespaces(ids[0]); len(left) > 0 {
			t.Errorf("%v left namespaces: %v", sig, left)
		}
		if _, err := os.Stat(stateDirOf(ids[0])); !os.IsNotExist(err) {
			t.Errorf("%v left the state directory", sig)
		}
		if !strings.Contains(buf.String(), "finish with: lab matrix --resume "+ids[0]) {
			t.Errorf("%v: no resume hint:\n%s", sig, buf.String())
		}
	}
}

// TestGroupInterruptThenResume covers rows 5 and 6: Ctrl-C delivered to
// lab's whole process group (as a terminal does) does not kill teardown's
// commands; cells cut short are not stored; --resume runs them and the
// run ends with every cell stored, none an infra error, nothing left.
func TestGroupInterruptThenResume(t *testing.T) {
	bin, env := buildLab(t)
	out := t.TempDir()
	cmd := exec.Command(bin, "matrix", "dnat-stop-start", "-j", "2", "--out", out)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, like a terminal job
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForCell(t, cmd, out)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	cmd.Wait()
	ids, _ := results.RunIDs(out)
	if len(ids) != 1 {
		t.Fatalf("runs %v", ids)
	}
	if left := leftNamespaces(ids[0]); len(left) > 0 {
		t.Errorf("namespaces left after a group Ctrl-C: %v\n%s", left, buf.String())
	}
	st := results.Store{Dir: filepath.Join(out, "runs", ids[0])}
	cells, _, _ := st.Scan()
	for _, c := range cells {
		if c.Status == results.Error || strings.Contains(c.Error, "interrupted") {
			t.Errorf("an interrupted cell was stored: %s %s: %s", c.ID, c.Status, c.Error)
		}
	}
	resume := exec.Command(bin, "matrix", "--resume", ids[0], "--out", out)
	resume.Env = env
	if o, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, o)
	}
	cells, skipped, _ := st.Scan()
	doc, _ := st.LoadRun()
	if len(cells) != len(doc.Planned) || len(skipped) != 0 || doc.FinishedAt.IsZero() {
		t.Errorf("after resume: %d of %d cells, %d skipped, finished %v", len(cells), len(doc.Planned), len(skipped), doc.FinishedAt)
	}
	for _, c := range cells {
		if results.Bad(c.Verdict) {
			t.Errorf("%s: %s: %s", c.ID, c.Verdict, c.Error)
		}
	}
	if left := leftNamespaces(ids[0]); len(left) > 0 {
		t.Errorf("namespaces left after resume: %v", left)
	}
}

// TestNightly runs the unattended nightly twice with a retention of one
// run: the site is published (atomically, nothing left beside it), the
// older run is removed; a deadline stops a run and is reported.
func TestNightly(t *testing.T) {
	bin, env := buildLab(t)
	dir := t.TempDir()
	out, site := filepath.Join(dir, "runs-store"), filepath.Join(dir, "site")
	for i := 0; i < 2; i++ {
		cmd := exec.Command(bin, "nightly", "dnat-stop-start", "--profile", "microk8s-1.31.6", "--out", out, "--site", site, "--keep-runs", "1")
		cmd.Env = env
		if o, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(o), "published "+filepath.Join(site, "index.html")) {
			t.Fatalf("nightly %d: %v\n%s", i, err, o)
		}
	}
	ids, _ := results.RunIDs(out)
	if len(ids) != 1 {
		t.Errorf("retention kept %v, want the newest run only", ids)
	}
	if _, err := os.Stat(filepath.Join(site, "runs", ids[0], "index.html")); err != nil {
		t.Errorf("site lacks the run: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("left beside the site: %v", ents)
	}
	cmd := exec.Command(bin, "nightly", "dnat-stop-start", "-j", "1", "--deadline", "1ms", "--out", out, "--site", site)
	cmd.Env = env
	o, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(o), "deadline 1ms reached") {
		t.Errorf("deadline: %v\n%s", err, o)
	}
	ids, _ = results.RunIDs(out)
	if left := leftNamespaces(ids[len(ids)-1]); len(left) > 0 {
		t.Errorf("deadline left namespaces: %v", left)
	}
}

// TestResumeOfALiveRunRefused covers row 3 with real processes: resuming a
// run that is still running is refused (exit 2) and the live run ends with
// every cell stored and correct.
func TestResumeOfALiveRunRefused(t *testing.T) {
	bin, env := buildLab(t)
	out := t.TempDir()
	cmd := exec.Command(bin, "matrix", "dnat-stop-start", "-j", "1", "--out", out)
	cmd.Env = env
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForCell(t, cmd, out)
	ids, _ := results.RunIDs(out)
	resume := exec.Command(bin, "matrix", "--resume", ids[0], "--out", out)
	resume.Env = env
	o, err := resume.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(o), "is still running") {
		t.Errorf("resume of a live run: %v\n%s", err, o)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the live run failed after the refused resume: %v\n%s", err, buf.String())
	}
	cells, _, _ := (results.Store{Dir: filepath.Join(out, "runs", ids[0])}).Scan()
	for _, c := range cells {
		if results.Bad(c.Verdict) {
			t.Errorf("%s: %s: %s", c.ID, c.Verdict, c.Error)
		}
	}
}

// syncBuf is a buffer a child process writes to while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecondInterruptAbandons: a second SIGINT exits at once (130) and
// names what it leaves; the test removes those leftovers itself.
func TestSecondInterruptAbandons(t *testing.T) {
	bin, env := buildLab(t)
	out := t.TempDir()
	cmd := exec.Command(bin, "matrix", "dnat-stop-start", "-j", "1", "--out", out)
	cmd.Env = env
	var buf syncBuf
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForCell(t, cmd, out)
	ids, _ := results.RunIDs(out)
	defer func() { // the abandoned run is dead: remove what it left, this run's only
		r := &runner.Run{ID: ids[0], Prefix: runner.Prefix(ids[0]), Dir: stateDirOf(ids[0])}
		runner.CleanRun(context.Background(), r)
		os.RemoveAll(r.Dir)
	}()
	cmd.Process.Signal(os.Interrupt)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(buf.String(), "stopping;") && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		if strings.Contains(buf.String(), "finish with: lab matrix --resume") {
			t.Skip("the run tore down before the second interrupt arrived")
		}
		t.Fatalf("two interrupts: %v\n%s", err, buf.String())
	}
	// what it abandons: the leftovers and `lab clean`, or (when the cell's
	// teardown finished before the second signal arrived) that nothing is
	// running any more
	if !strings.Contains(buf.String(), "second interrupt: abandoning teardown: ") ||
		!strings.Contains(buf.String(), "lab clean") && !strings.Contains(buf.String(), "no cell running") &&
			!strings.Contains(buf.String(), "abandoning teardown: nothing is running") {
		t.Errorf("second interrupt does not say what it abandons:\n%s", buf.String())
	}
}
