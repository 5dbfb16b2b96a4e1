package netnsprov_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"lab/harness/execx"
	"lab/harness/netnsprov"
	"lab/harness/testenv"
)

func readlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNodeOwnNamespaces proves a node's commands run in the node's own
// network, mount, PID and UTS namespaces: they see neither the host's
// processes nor its /run, and another node's processes are invisible and
// unsignalable.
func TestNodeOwnNamespaces(t *testing.T) {
	env := testenv.Env(t)
	ctx := context.Background()
	a, err := env.AddNode(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.AddNode(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	out := func(n interface {
		Run(context.Context, execx.Cmd) (execx.Result, error)
	}, argv ...string) string {
		t.Helper()
		s, err := execx.Output(ctx, n, argv...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(s)
	}
	for _, ns := range []string{"pid", "mnt", "net", "uts"} {
		host := readlink(t, "/proc/self/ns/"+ns)
		inA := out(a, "readlink", "/proc/self/ns/"+ns)
		inB := out(b, "readlink", "/proc/self/ns/"+ns)
		if inA == host || inA == inB {
			t.Errorf("%s namespace: host %s, node a %s, node b %s; want three different", ns, host, inA, inB)
		}
	}
	if h := out(a, "hostname"); h != "a" {
		t.Errorf("hostname in node a = %q", h)
	}
	// PID 1 is the node's init; the host's processes are not visible.
	if c := out(a, "cat", "/proc/1/comm"); c != "tini" {
		t.Errorf("PID 1 in node a is %q, want tini", c)
	}
	ps := out(a, "ps", "-e", "-o", "pid=,comm=")
	if strings.Count(ps, "\n") > 3 || strings.Contains(ps, "dockerd") || strings.Contains(ps, "go") {
		t.Errorf("node a sees processes beyond its own:\n%s", ps)
	}
	// A long-running process in b: a's pkill cannot see or signal it.
	s, err := b.Start(ctx, execx.Cmd{Argv: []string{"sleep", "300"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Kill()
	if _, err := a.Run(ctx, execx.Cmd{Argv: []string{"pkill", "-f", "sleep 300"}}); err == nil {
		t.Error("pkill in node a found node b's process")
	}
	if _, err := b.Run(ctx, execx.Cmd{Argv: []string{"pgrep", "-f", "sleep 300"}}); err != nil {
		t.Errorf("node b's process is gone after pkill in node a: %v", err)
	}
	// /run is the node's own: a file written there is not on the host.
	mark := filepath.Join("/run", "lab-node-test-"+filepath.Base(t.Name()))
	out(a, "touch", mark)
	if _, err := os.Stat(mark); err == nil {
		os.Remove(mark)
		t.Errorf("%s written in node a appeared on the host", mark)
	}
	if _, err := b.Run(ctx, execx.Cmd{Argv: []string{"test", "-e", mark}}); err == nil {
		t.Errorf("%s written in node a appeared in node b", mark)
	}
	// The environment given is the node's, set inside the node.
	if v := out(a, "sh", "-c", "echo $LABTEST"); v != "" {
		t.Errorf("LABTEST leaked: %q", v)
	}
	res, err := a.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "echo $LABTEST"}, Env: []string{"PATH=/usr/bin:/bin", "LABTEST=x"}})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "x" {
		t.Errorf("Env not applied in the node: %q, %v", res.Stdout, err)
	}
	// CopyIn lands in the node's filesystem only.
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.CopyIn(ctx, src, "/run/lab/x/f", 0o600); err != nil {
		t.Fatal(err)
	}
	if got := out(a, "cat", "/run/lab/x/f"); got != "hello" {
		t.Errorf("copied file reads %q", got)
	}
	if err := env.Connect(ctx, a, "net1", "eth0", netip.MustParsePrefix("192.0.2.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := env.Connect(ctx, b, "net1", "eth0", netip.MustParsePrefix("192.0.2.2/24")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(ctx, execx.Cmd{Argv: []string{"ping", "-c1", "-W2", "192.0.2.2"}}); err != nil {
		if _, lerr := execx.Output(ctx, execx.Host{}, "sh", "-c", "command -v ping"); lerr == nil {
			t.Errorf("a cannot reach b on net1: %v", err)
		}
	}
}

// TestLeftoversAndRemove checks the lifecycle a crashed run needs: a
// node's resources are listed by prefix and removed with everything
// running in them.
func TestLeftoversAndRemove(t *testing.T) {
	testenv.Root(t)
	ctx := context.Background()
	p := netnsprov.New()
	prefix := "lab-test-rm" + strings.ReplaceAll(t.Name(), "/", "")[:4]
	env, err := p.NewEnv(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	n, err := env.AddNode(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	left, err := p.Leftovers(ctx, prefix)
	if err != nil || len(left) != 2 {
		t.Fatalf("Leftovers = %v, %v; want the fabric and n1", left, err)
	}
	sh, err := p.Shell(ctx, prefix, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if o, err := execx.Output(ctx, execx.Host{}, append(sh, "hostname")...); err != nil || strings.TrimSpace(o) != "n1" {
		t.Errorf("Shell prefix runs in %q, %v", o, err)
	}
	if err := p.Remove(ctx, prefix); err != nil {
		t.Fatal(err)
	}
	if left, _ := p.Leftovers(ctx, prefix); len(left) != 0 {
		t.Errorf("after Remove: %v", left)
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"true"}}); err == nil {
		t.Error("the node still runs commands after Remove")
	}
}

// TestCopyInBindsBigFiles: a big host file (the agent, kube-proxy) is
// bind-mounted into the node instead of copied; the node reads the same
// bytes, a second push of it works, and the host's file is never written.
func TestCopyInBindsBigFiles(t *testing.T) {
	env := testenv.Env(t)
	ctx := context.Background()
	n, err := env.AddNode(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "lab-bind-test-") // /tmp is private in nodes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "big")
	data := []byte(strings.Repeat("lab bind test\n", (9<<20)/14))
	if err := os.WriteFile(src, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := n.CopyIn(ctx, src, "/run/lab/big", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mounts, err := execx.Output(ctx, n, "cat", "/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(mounts, " /run/lab/big "); c != 1 {
		t.Errorf("/run/lab/big is mounted %d times in the node, want once (a bind, not a copy):\n%s", c, mounts)
	}
	size, err := execx.Output(ctx, n, "wc", "-c", "/run/lab/big")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(size), strconv.Itoa(len(data))) {
		t.Errorf("the node reads %q (%v), want %d bytes", size, err, len(data))
	}
	if got, _ := os.ReadFile(src); string(got) != string(data) {
		t.Error("the host's file changed")
	}
}
