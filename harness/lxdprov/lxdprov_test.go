package lxdprov_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/execx"
	"lab/harness/lxdprov"
	"lab/harness/node"
	"lab/harness/provider"
	"lab/harness/testenv"
)

// available returns the local LXD provider, skipping the test with the
// reason when no daemon answers here (`make lxd` sets one up).
func available(t testing.TB) *lxdprov.Provider {
	t.Helper()
	testenv.Root(t)
	p := lxdprov.New().(*lxdprov.Provider)
	if err := p.Check(context.Background()); err != nil {
		t.Skipf("lxd: %v", err)
	}
	return shutAtEnd(t, p)
}

// shutAtEnd removes the providers' bases when the test ends, as the CLI
// does when a run ends, and fails the test if one is left (the providers
// share one daemon or cluster).
func shutAtEnd(t testing.TB, ps ...*lxdprov.Provider) *lxdprov.Provider {
	t.Cleanup(func() {
		ctx := context.Background()
		for _, p := range ps {
			if err := p.Shutdown(ctx); err != nil {
				t.Error(err)
			}
		}
		if left, err := ps[0].Leftovers(ctx, "lab-ltest-base-"); err != nil || len(left) > 0 {
			t.Errorf("bases left after Shutdown: %v %v", left, err)
		}
	})
	return ps[0]
}

func prefix(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "lab-ltest-" + hex.EncodeToString(b)
}

// env returns a cell environment on image, closed when the test ends; the
// test fails if anything of it is left.
func env(t testing.TB, p *lxdprov.Provider, image string) provider.Env {
	t.Helper()
	ctx := context.Background()
	pre := prefix(t)
	e, err := p.NewImageEnv(ctx, pre, image)
	if err != nil {
		if strings.Contains(err.Error(), "is not built") {
			t.Skipf("%v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := p.WaitTeardowns(ctx); err != nil {
			t.Error(err)
		}
		if left, _ := p.Leftovers(ctx, pre); len(left) > 0 {
			t.Errorf("left after Close: %v", left)
		}
	})
	return e
}

func out(t *testing.T, n node.Node, argv ...string) string {
	t.Helper()
	s, err := execx.Output(context.Background(), n, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

// TestNodes boots two nodes of the default image, with commands through
// LXD's exec API and through nsenter, and checks what the drivers rely on: the image's userspace, own PID 1 and hostname, the
// environment set inside, CopyIn, Start/Kill, and L2 reachability on a
// cell network with the interface named as asked.
func TestNodes(t *testing.T) {
	available(t)
	for _, ns := range []bool{false, true} {
		t.Run(map[bool]string{false: "exec-api", true: "nsenter"}[ns], func(t *testing.T) {
			testNodes(t, shutAtEnd(t, lxdprov.NewWith(lxdprov.Options{NsenterExec: ns}).(*lxdprov.Provider)))
		})
	}
}

func testNodes(t *testing.T, p *lxdprov.Provider) {
	ctx := context.Background()
	e := env(t, p, "")
	a, err := e.AddNode(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.AddNode(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if h := out(t, a, "hostname"); h != "a" {
		t.Errorf("hostname in node a = %q", h)
	}
	if os := out(t, a, "sh", "-c", ". /etc/os-release; echo $VERSION_CODENAME"); os != "bookworm" {
		t.Errorf("node a runs %q, want the image's bookworm", os)
	}
	if c := out(t, a, "cat", "/proc/1/cmdline"); !strings.Contains(c, "lab-init") {
		t.Errorf("PID 1 of node a is %q, want the lab's init", c)
	}
	if v := out(t, a, "sh", "-c", "echo $LABTEST"); v != "" {
		t.Errorf("LABTEST leaked: %q", v)
	}
	res, err := a.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "echo $LABTEST; cat"}, Env: []string{"PATH=/usr/bin:/bin", "LABTEST=x"}, Stdin: []byte("in")})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "x\nin" {
		t.Errorf("Env/Stdin not applied in the node: %q, %v", res.Stdout, err)
	}
	_, err = a.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "echo oops >&2; exit 3"}})
	var ee *execx.Error
	if !errors.As(err, &ee) || ee.ExitCode != 3 || !strings.Contains(ee.Stderr, "oops") {
		t.Errorf("exit status: %#v", err)
	}
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.CopyIn(ctx, src, "/run/lab/x/f", 0o700); err != nil {
		t.Fatal(err)
	}
	if got := out(t, a, "stat", "-c", "%a %s", "/run/lab/x/f"); got != "700 5" {
		t.Errorf("copied file: %q", got)
	}
	if _, err := b.Run(ctx, execx.Cmd{Argv: []string{"test", "-e", "/run/lab/x/f"}}); err == nil {
		t.Error("a file copied into a appeared in b")
	}
	s, err := b.Start(ctx, execx.Cmd{Argv: []string{"sh", "-c", "read l; echo got $l; sleep 300"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stdin().Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := s.Stdout().Read(buf); err != nil || string(buf[:8]) != "got ping" {
		t.Errorf("stream read %q, %v", buf, err)
	}
	if _, err := a.Run(ctx, execx.Cmd{Argv: []string{"pkill", "-f", "sleep 300"}}); err == nil {
		t.Error("pkill in node a found node b's process")
	}
	if err := s.Kill(); err != nil {
		t.Error(err)
	}
	if _, err := b.Run(ctx, execx.Cmd{Argv: []string{"pgrep", "-f", "sleep 300"}}); err == nil {
		t.Error("the started command survived Kill")
	}
	for i, n := range []node.Node{a, b} {
		if err := e.Connect(ctx, n, "net1", "eth0", netip.MustParsePrefix([]string{"198.51.100.1/24", "198.51.100.2/24"}[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Connect(ctx, a, "net2", "eth1", netip.MustParsePrefix("192.0.2.1/24")); err != nil {
		t.Fatal(err)
	}
	if got := out(t, a, "sh", "-c", "ip -br -4 addr show eth0; ip -br -4 addr show eth1"); !strings.Contains(got, "198.51.100.1/24") || !strings.Contains(got, "192.0.2.1/24") {
		t.Errorf("node a's interfaces:\n%s", got)
	}
	// A closed port answers with a reset: a reached b over net1.
	r, _ := a.Run(ctx, execx.Cmd{Argv: []string{"bash", "-c", "timeout 5 bash -c 'echo > /dev/tcp/198.51.100.2/9' 2>&1"}})
	if !strings.Contains(string(r.Stdout), "refused") {
		t.Errorf("a cannot reach b on net1: %q", r.Stdout)
	}
	if u, ok := e.(provider.Userspacer); !ok || !strings.Contains(u.Userspace(), "debian-bookworm") {
		t.Errorf("the environment does not say its image")
	}
}

// TestLeftoversAndRemove: what a crashed run leaves (instances, networks)
// is listed by prefix, entered with Shell, and removed with Remove;
// nothing of another prefix is touched.
func TestLeftoversAndRemove(t *testing.T) {
	p := available(t)
	ctx := context.Background()
	pre := prefix(t)
	other := env(t, p, "")
	if _, err := other.AddNode(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	crashed, err := p.NewImageEnv(ctx, pre, "")
	if err != nil {
		t.Fatal(err)
	}
	defer crashed.Close(ctx) // only if the test fails halfway
	n, err := crashed.AddNode(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.Connect(ctx, n, "public", "eth0", netip.MustParsePrefix("198.51.100.9/24")); err != nil {
		t.Fatal(err)
	}
	lxdprov.SettleSlots(crashed) // the container made ahead for a next node is there
	left, err := p.Leftovers(ctx, pre)
	if err != nil || len(left) != 3 || !strings.HasPrefix(left[0], "instance "+pre+"-n0") || !strings.HasPrefix(left[1], "instance "+pre+"-n1") || !strings.HasPrefix(left[2], "network lab") {
		t.Fatalf("Leftovers = %q, %v; want the node's instance, the one made ahead and the network", left, err)
	}
	sh, err := p.Shell(ctx, pre, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if o, err := execx.Output(ctx, execx.Host{}, append(sh, "hostname")...); err != nil || strings.TrimSpace(o) != "n1" {
		t.Errorf("Shell prefix runs in %q, %v", o, err)
	}
	if err := p.Remove(ctx, pre+"-"); err != nil { // as runner.Clean asks: the cell prefix and a dash
		t.Fatal(err)
	}
	if left, _ := p.Leftovers(ctx, pre); len(left) != 0 {
		t.Errorf("after Remove: %v", left)
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"true"}}); err == nil {
		t.Error("the node still runs commands after Remove")
	}
	if kept, ok := other.Node("keep"); !ok {
		t.Error("lost the other cell's node")
	} else if _, err := kept.Run(ctx, execx.Cmd{Argv: []string{"true"}}); err != nil {
		t.Errorf("Remove of %s touched another cell: %v", pre, err)
	}
}

// TestVirtualMachine asks this machine's LXD for a virtual machine: on
// real infrastructure Check passes; here LXD refuses, and the test says
// LXD's own reason.
func TestVirtualMachine(t *testing.T) {
	available(t)
	p := lxdprov.NewWith(lxdprov.Options{InstanceType: lxdprov.VirtualMachine})
	err := p.Check(context.Background())
	var ue *provider.UnavailableError
	switch {
	case err == nil:
		t.Log("this LXD runs virtual machines")
	case errors.As(err, &ue):
		t.Skipf("VM mode needs real infrastructure; here: %s", ue.Reason)
	default:
		t.Fatal(err)
	}
}
