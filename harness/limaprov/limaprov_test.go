package limaprov_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/kernel"
	"lab/harness/limaprov"
	"lab/harness/node"
	"lab/harness/profile"
	"lab/harness/provider"
)

// vmProvider returns the lima provider when real VMs can run here and were
// asked for (LAB_LIMA_TEST=1, as `make test-lima` sets); it skips with the
// reason otherwise.
func vmProvider(t testing.TB) *limaprov.Provider {
	t.Helper()
	if os.Getenv("LAB_LIMA_TEST") != "1" {
		t.Skip("real VMs: set LAB_LIMA_TEST=1 (`make test-lima`, part of `make test`): it builds the VM image once and boots a VM under QEMU")
	}
	p := limaprov.NewProvider()
	if err := p.Check(context.Background()); err != nil {
		t.Skipf("lima provider cannot run here: %v", err)
	}
	return p
}

func out(t *testing.T, n node.Node, argv ...string) string {
	t.Helper()
	res, err := n.Run(context.Background(), execx.Cmd{Argv: argv})
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return strings.TrimSpace(string(res.Stdout))
}

// TestVM boots one VM from the VM variant of the default recipe and checks
// the node contract on it, the kernel profile made real (xt_recent removed
// from the VM's kernel, so iptables prints the kernel's own warning; IPv6
// MARK left to the library), the reset between cells (the module is back,
// the VM is reused, not rebooted) and the cleanup.
func TestVM(t *testing.T) {
	p := vmProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Minute)
	defer cancel()
	run := fmt.Sprintf("lab-ltest%d", os.Getpid()%100000)
	defer func() {
		if err := p.Remove(context.Background(), run); err != nil {
			t.Errorf("Remove: %v", err)
		}
		if left, _ := p.Leftovers(context.Background(), run); len(left) != 0 {
			t.Errorf("left after Remove: %v", left)
		}
	}()
	prof := &profile.Profile{}
	prof.Kernel.Missing.IPv4 = profile.Extensions{Matches: []string{"recent"}}
	prof.Kernel.Missing.IPv6 = profile.Extensions{Matches: []string{"recent"}, Targets: []string{"MARK"}}
	env, err := p.NewProfileEnv(ctx, run+"-1", prof)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	a, err := env.AddNode(ctx, "a")
	if err != nil {
		env.Close(ctx)
		t.Fatal(err)
	}
	t.Logf("first node up in %s (boots: %+v)", time.Since(t0).Round(time.Second), p.Boots)
	if got := out(t, a, "id", "-u"); got != "0" {
		t.Errorf("commands run as uid %s, want 0", got)
	}
	if v := out(t, a, "sh", "-c", "echo $LABTEST"); v != "" {
		t.Errorf("LABTEST leaked: %q", v)
	}
	res, err := a.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "echo $LABTEST; cat"}, Env: []string{"PATH=/usr/bin:/bin", "LABTEST=x y"}, Stdin: []byte("in")})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "x y\nin" {
		t.Errorf("Env/Stdin not applied in the VM: %q, %v", res.Stdout, err)
	}
	kh := env.(provider.KernelHider)
	byKernel, byLibrary := kh.KernelHides()
	if kernel.EnvValue(byKernel) != "ipv4:match:recent,ipv6:match:recent" || kernel.EnvValue(byLibrary) != "ipv6:target:MARK" {
		t.Errorf("KernelHides = %v / %v; want recent by the kernel, IPv6 MARK by the library", byKernel, byLibrary)
	}
	r, err := a.Run(ctx, execx.Cmd{Argv: []string{"iptables-legacy", "-A", "INPUT", "-m", "recent", "--name", "x", "--set"}})
	if err == nil || !strings.Contains(err.Error(), "Extension recent revision 0 not supported, missing kernel module?") {
		t.Errorf("-m recent on a kernel without xt_recent: %v (%s)", err, r.Stderr)
	}
	// Start with pipes.
	s, err := a.Start(ctx, execx.Cmd{Argv: []string{"cat"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(s.Stdin(), "ping")
	buf := make([]byte, 5)
	if _, err := s.Stdout().Read(buf); err != nil || string(buf) != "ping\n" {
		t.Errorf("Start: read %q, %v", buf, err)
	}
	s.Stdin().Close()
	_ = s.Wait()
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.CopyIn(ctx, src, "/run/lab/x/f", 0o600); err != nil {
		t.Fatal(err)
	}
	if got := out(t, a, "stat", "-c", "%a %s", "/run/lab/x/f"); got != "600 5" {
		t.Errorf("copied file: %q", got)
	}
	if err := env.Connect(ctx, a, "public", "eth0", netip.MustParsePrefix("192.0.2.1/24")); err != nil {
		t.Fatal(err)
	}
	if got := out(t, a, "ip", "-o", "-4", "addr", "show", "dev", "eth0"); !strings.Contains(got, "192.0.2.1/24") {
		t.Errorf("eth0 after Connect: %q", got)
	}
	if left, _ := p.Leftovers(ctx, run); len(left) != 2 {
		t.Errorf("Leftovers(%s) = %v; want the VM and the cell's node", run, left)
	}
	if err := env.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The next cell gets the same VM, reset: the module is back.
	env2, err := p.NewProfileEnv(ctx, run+"-2", &profile.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := env2.AddNode(ctx, "b")
	if err != nil {
		env2.Close(ctx)
		t.Fatal(err)
	}
	if len(p.Boots) != 1 {
		t.Errorf("a second cell booted another VM: %+v", p.Boots)
	}
	if _, err := b.Run(ctx, execx.Cmd{Argv: []string{"iptables-legacy", "-A", "INPUT", "-m", "recent", "--name", "x", "--set"}}); err != nil {
		t.Errorf("-m recent after the reset: %v", err)
	}
	if got := out(t, b, "sh", "-c", "ls /run/lab 2>&1; ip -o link show eth0 2>&1; true"); !strings.Contains(got, "No such file") || !strings.Contains(got, "does not exist") {
		t.Errorf("state of the previous cell survived the reset: %q", got)
	}
	if err := env2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := p.Leftovers(ctx, run); len(left) != 0 {
		t.Errorf("left after Shutdown: %v", left)
	}
}
