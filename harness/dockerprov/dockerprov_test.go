package dockerprov_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/dockerprov"
	"lab/harness/execx"
	"lab/harness/node"
	"lab/harness/provider"
	"lab/harness/testenv"
)

// docker returns the provider, skipping the test with the reason when no
// engine answers or the default node image is not built.
func docker(t testing.TB) provider.Provider {
	t.Helper()
	testenv.Root(t)
	p := testenv.Provider(t, dockerprov.New())
	testenv.NodeImage(t, "../../images/recipes", dockerprov.DefaultImage)
	return p
}

func prefix(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "lab-dtest-" + hex.EncodeToString(b)
}

func out(t *testing.T, n node.Node, argv ...string) string {
	t.Helper()
	s, err := execx.Output(context.Background(), n, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

// TestNodes boots two containers of the default node image and checks
// every Node primitive, a network between them, and that Remove leaves
// nothing of the prefix.
func TestNodes(t *testing.T) {
	p := docker(t)
	ctx := context.Background()
	pre := prefix(t)
	t.Cleanup(func() { _ = p.Remove(context.Background(), pre) })
	start := time.Now()
	env, err := p.NewEnv(ctx, pre)
	if err != nil {
		t.Fatal(err)
	}
	a, err := env.AddNode(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.AddNode(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2 nodes booted in %s", time.Since(start).Round(time.Millisecond))
	if h := out(t, a, "hostname"); h != "a" {
		t.Errorf("hostname in a = %q", h)
	}
	if os := out(t, a, "sh", "-c", ". /etc/os-release; echo $VERSION_CODENAME"); os != "bookworm" {
		t.Errorf("node a runs %q, want the bookworm image", os)
	}
	if c := out(t, a, "cat", "/proc/1/comm"); c != "docker-init" {
		t.Errorf("PID 1 in a is %q, want docker-init", c)
	}
	// Env is set inside the node and only it; stdin reaches the command;
	// a failing command is an execx.Error with its exit code and output.
	res, err := a.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "echo $LABTEST $HOME; cat"}, Env: []string{"PATH=/usr/bin:/bin", "LABTEST=x"}, Stdin: []byte("in")})
	if err != nil || string(res.Stdout) != "x\nin" {
		t.Errorf("Run with Env and Stdin: %q, %v", res.Stdout, err)
	}
	_, err = a.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "echo oops >&2; exit 3"}})
	var ee *execx.Error
	if !errors.As(err, &ee) || ee.ExitCode != 3 || !strings.Contains(ee.Error(), "oops") {
		t.Errorf("failing command: %v", err)
	}
	// A cancelled command is killed.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = a.Run(cctx, execx.Cmd{Argv: []string{"sleep", "300"}})
	cancel()
	if err == nil {
		t.Error("sleep 300 returned without error after its context ended")
	}
	if _, err := a.Run(ctx, execx.Cmd{Argv: []string{"pgrep", "-x", "sleep"}}); err != nil {
		t.Errorf("the container's own sleep infinity is gone: %v", err)
	}
	if o := out(t, a, "ps", "-eo", "args="); strings.Contains(o, "sleep 300") {
		t.Errorf("cancelled sleep 300 still runs:\n%s", o)
	}
	// Start: stdin/stdout piped, stderr apart.
	s, err := a.Start(ctx, execx.Cmd{Argv: []string{"sh", "-c", "echo err >&2; cat"}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stdin().Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s.Stdout(), buf); err != nil || string(buf) != "ping\n" {
		t.Errorf("Start echo: %q, %v", buf, err)
	}
	s.Stdin().Close()
	if err := s.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
	// CopyIn makes the directory and sets the mode.
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.CopyIn(ctx, src, "/run/lab/x/f", 0o750); err != nil {
		t.Fatal(err)
	}
	if got := out(t, a, "stat", "-c", "%a %s", "/run/lab/x/f"); got != "750 5" {
		t.Errorf("copied file: %q", got)
	}
	// A network: both get eth0 with the cell's address and reach each other.
	if err := env.Connect(ctx, a, "net1", "eth0", netip.MustParsePrefix("192.0.2.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := env.Connect(ctx, b, "net1", "eth0", netip.MustParsePrefix("192.0.2.2/24")); err != nil {
		t.Fatal(err)
	}
	if got := out(t, b, "ip", "-br", "-4", "addr", "show", "eth0"); !strings.Contains(got, "192.0.2.2/24") {
		t.Errorf("b's eth0: %q", got)
	}
	srv, err := b.Start(ctx, execx.Cmd{Argv: []string{"python3", "-c", `import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("192.0.2.2", 8080)); s.listen(1); print("up", flush=True)
c,_=s.accept(); c.sendall(b"from b\n"); c.close()`}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	up := make([]byte, 3)
	if _, err := io.ReadFull(srv.Stdout(), up); err != nil {
		t.Fatalf("server in b: %v", err)
	}
	if got := out(t, a, "bash", "-c", "exec 3<>/dev/tcp/192.0.2.2/8080; cat <&3"); got != "from b" {
		t.Errorf("a reading from b over net1: %q", got)
	}
	for _, v := range []string{"iptables-legacy", "iptables-nft"} {
		if got := out(t, a, v+"-save", "-t", "nat"); strings.Contains(got, "DOCKER") {
			t.Errorf("docker's rules left in node a (%s):\n%s", v, got)
		}
	}
	// Shell, Leftovers, Remove.
	sh, err := p.Shell(ctx, pre, "b")
	if err != nil {
		t.Fatal(err)
	}
	if o, err := execx.Output(ctx, execx.Host{}, append(sh, "hostname")...); err != nil || strings.TrimSpace(o) != "b" {
		t.Errorf("Shell prefix %v runs in %q, %v", sh, o, err)
	}
	left, err := p.Leftovers(ctx, pre)
	if err != nil || len(left) != 3 {
		t.Errorf("Leftovers = %v, %v; want 2 containers and the fabric namespace", left, err)
	}
	if err := p.Remove(ctx, pre); err != nil {
		t.Fatal(err)
	}
	if left, err := p.Leftovers(ctx, pre); len(left) != 0 || err != nil {
		t.Errorf("after Remove: %v, %v", left, err)
	}
	if _, err := a.Run(ctx, execx.Cmd{Argv: []string{"true"}}); err == nil {
		t.Error("the node still runs commands after Remove")
	}
	if err := env.Close(ctx); err != nil {
		t.Errorf("Close after Remove: %v", err)
	}
}
