package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"lab/harness/netns"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// buildLab compiles the lab binary into a temp dir, next to the CNI plugins
// and the kernel library it finds through LAB_CNI_PATH / LAB_HIDEXT_LIB.
func buildLab(t *testing.T) (bin string, env []string) {
	t.Helper()
	plugins, hidext := testenv.Prereqs(t)
	bin = filepath.Join(t.TempDir(), "lab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kp := testenv.KubeProxy(t, testenv.KubeProxyVersions...)
	return bin, append(os.Environ(), "LAB_CNI_PATH="+plugins, "LAB_KUBE_PROXY_PATH="+kp, "LAB_HIDEXT_LIB="+hidext, "CI=true")
}

// summary reduces a run to what must not depend on how it was executed:
// per cell key, the verdict and the observations.
func summary(t *testing.T, out string) map[string]string {
	t.Helper()
	ids, err := results.RunIDs(out)
	if err != nil || len(ids) != 1 {
		t.Fatalf("runs in %s: %v %v", out, ids, err)
	}
	cells, err := (results.Store{Dir: filepath.Join(out, "runs", ids[0])}).Load()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, c := range cells {
		obs, _ := json.Marshal(c.Observations)
		m[c.ID] = c.Verdict + " " + string(obs)
	}
	return m
}

func sitePages(t *testing.T, out string) []string {
	t.Helper()
	var pages []string
	filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".html") {
			rel, _ := filepath.Rel(out, p)
			// per-run pages carry the run ID; compare their shape only
			if i := strings.Index(rel, "runs/"); i == 0 {
				rel = "runs/RUN/" + strings.SplitN(rel, "/", 3)[2]
			}
			pages = append(pages, rel)
		}
		return nil
	})
	sort.Strings(pages)
	return pages
}

// waitForCell returns once the run writing into out has stored a cell; it
// kills cmd and fails the test after a minute.
func waitForCell(t *testing.T, cmd *exec.Cmd, out string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if files, _ := filepath.Glob(filepath.Join(out, "runs", "*", "cells", "*.json")); len(files) > 0 {
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no cell stored within a minute")
		}
	}
}

// leftNamespaces lists the namespaces the run runID left behind.
func leftNamespaces(runID string) []string {
	left, _ := netns.List(runner.Prefix(runID) + "-")
	return left
}

// TestKillAndResume kills a matrix run with SIGKILL after its first cell is
// stored, resumes it, and checks the result equals an uninterrupted run's.
func TestKillAndResume(t *testing.T) {
	bin, env := buildLab(t)
	killed := t.TempDir()
	cmd := exec.Command(bin, "matrix", "dnat-stop-start", "-j", "1", "--seed", "7", "--out", killed)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForCell(t, cmd, killed)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	ids, _ := results.RunIDs(killed)
	if len(ids) != 1 {
		t.Fatalf("runs: %v", ids)
	}
	stored, _ := filepath.Glob(filepath.Join(killed, "runs", ids[0], "cells", "*.json"))
	if len(stored) >= 4 {
		t.Fatalf("run finished before the kill (%d cells); the test proves nothing", len(stored))
	}
	resume := exec.Command(bin, "matrix", "--resume", ids[0], "--out", killed)
	resume.Env = env
	if out, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if left := leftNamespaces(ids[0]); len(left) > 0 {
		t.Errorf("namespaces of the killed run left after resume: %v", left)
	}
	whole := t.TempDir()
	full := exec.Command(bin, "matrix", "dnat-stop-start", "-j", "2", "--out", whole)
	full.Env = env
	if out, err := full.CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	a, b := summary(t, killed), summary(t, whole)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("resumed run differs from an uninterrupted one:\nresumed: %v\nwhole:   %v", a, b)
	}
	if pa, pb := sitePages(t, killed), sitePages(t, whole); fmt.Sprint(pa) != fmt.Sprint(pb) {
		t.Errorf("site pages differ:\nresumed: %v\nwhole:   %v", pa, pb)
	}
}

// TestKeepShellClean keeps a failing cell, enters its node with lab shell,
// and removes it with lab clean.
func TestKeepShellClean(t *testing.T) {
	bin, env := buildLab(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "failing.feature")
	os.WriteFile(f, []byte(`Feature: deliberately failing
  Scenario Outline: wrong count on <profile>
    Given a node "node1"
    And a pod "a" on "node1" serving HTTP with hostPorts "8080:80"
    When I count the jumps in chain "CNI-HOSTPORT-DNAT" of table "nat" on "node1" as "jumps"
    Then observation "jumps" should be "7"
    Examples:
      | profile         |
      | microk8s-1.32.2 |
`), 0o644)
	run := exec.Command(bin, "run", f, "--keep", "--out", filepath.Join(dir, "out"))
	run.Env = env
	out, err := run.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("run: want exit 1 for a failed cell, got %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "lab shell failing.L9.microk8s-1.32.2.netns NODE") {
		t.Fatalf("no keep instructions in output:\n%s", out)
	}
	sh := exec.Command(bin, "shell", "failing.L9", "node1", "--", "iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT")
	sh.Env = env
	rules, err := sh.CombinedOutput()
	if err != nil || !strings.Contains(string(rules), `dnat name: \"microk8s-flannel-network\"`) {
		t.Errorf("lab shell: %v\n%s", err, rules)
	}
	// A plain clean (and a resume) leaves kept cells alone; --kept removes them.
	cl := exec.Command(bin, "clean")
	cl.Env = env
	if out, err := cl.CombinedOutput(); err != nil || strings.Contains(string(out), "removed kept cell") {
		t.Errorf("clean without --kept: %v\n%s", err, out)
	}
	sh = exec.Command(bin, "shell", "failing.L9", "node1", "--", "true")
	sh.Env = env
	if out, err := sh.CombinedOutput(); err != nil {
		t.Errorf("kept cell gone after a plain clean: %v\n%s", err, out)
	}
	cl = exec.Command(bin, "clean", "--kept")
	cl.Env = env
	if out, err := cl.CombinedOutput(); err != nil || !strings.Contains(string(out), "removed kept cell") {
		t.Errorf("clean --kept: %v\n%s", err, out)
	}
	ids, _ := results.RunIDs(filepath.Join(dir, "out"))
	if left := leftNamespaces(ids[0]); len(left) > 0 {
		t.Errorf("namespaces left after clean: %v", left)
	}
}

// TestPreflightErrors runs the real binary as a non-root user and with the
// system binaries missing from PATH: one line naming the fix, exit 2.
func TestPreflightErrors(t *testing.T) {
	bin, env := buildLab(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	dir, err := os.MkdirTemp("", "lab-preflight-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	pub := filepath.Join(dir, "lab")
	data, _ := os.ReadFile(bin)
	os.WriteFile(pub, data, 0o755)
	root, _ := filepath.Abs("../..")
	for _, tc := range []struct {
		name string
		argv []string
		env  []string
		want string
	}{
		{"not root", []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", pub, "run", "dnat-stop-start"}, env,
			"needs root to create network namespaces; run as root (sudo)"},
		{"no iptables", []string{pub, "run", "dnat-stop-start"}, append(env, "PATH=/usr/bin:/bin"),
			"iptables-legacy (apt-get install iptables), nft (apt-get install nftables); run `make deps` as root"},
	} {
		cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
		cmd.Env, cmd.Dir = tc.env, root
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%s: want exit 2, got %v\n%s", tc.name, err, out)
		}
		if !strings.Contains(string(out), tc.want) || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Errorf("%s: want one line containing %q, got:\n%s", tc.name, tc.want, out)
		}
	}
}

// TestTimeoutAndInterrupt: a per-cell timeout makes an infra-error cell and
// still tears it down; SIGINT mid-run stops starting cells, tears down the
// running one, stores what finished and says how to resume.
func TestTimeoutAndInterrupt(t *testing.T) {
	bin, env := buildLab(t)
	out := t.TempDir()
	cmd := exec.Command(bin, "run", "dnat-stop-start", "--profile", "microk8s-1.32.2", "--timeout", "300ms", "-j", "1", "--out", out)
	cmd.Env = env
	got, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("timeout run: want exit 1, got %v\n%s", err, got)
	}
	if !strings.Contains(string(got), "infra-error") || !strings.Contains(string(got), "cell stopped: context deadline exceeded (timeout 300ms)") {
		t.Errorf("timeout not reported as an infra error:\n%s", got)
	}
	ids, _ := results.RunIDs(out)
	if left := leftNamespaces(ids[0]); len(left) > 0 {
		t.Errorf("timed-out cells left namespaces: %v", left)
	}

	out2 := t.TempDir()
	run := exec.Command(bin, "matrix", "dnat-stop-start", "-j", "1", "--out", out2)
	run.Env = env
	var buf strings.Builder
	run.Stdout, run.Stderr = &buf, &buf
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	waitForCell(t, run, out2)
	run.Process.Signal(os.Interrupt)
	err = run.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("interrupted run: want exit 1, got %v\n%s", err, buf.String())
	}
	if !strings.Contains(buf.String(), "finish with: lab matrix --resume ") || !strings.Contains(buf.String(), " --out "+out2) {
		t.Errorf("no resume hint after SIGINT:\n%s", buf.String())
	}
	ids, _ = results.RunIDs(out2)
	if left := leftNamespaces(ids[0]); len(left) > 0 {
		t.Errorf("interrupted run left namespaces: %v", left)
	}
	if _, err := os.Stat(filepath.Join(runner.StateRoot, strings.TrimPrefix(runner.Prefix(ids[0]), runner.NamespacePrefix))); !os.IsNotExist(err) {
		t.Errorf("interrupted run left its state directory: %v", err)
	}
}
