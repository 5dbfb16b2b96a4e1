package firewalld

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/node"
	"lab/harness/testenv"
)

// needFirewalld skips unless the test can run firewalld for real.
func needFirewalld(t testing.TB) {
	t.Helper()
	testenv.Root(t)
	if err := execx.LookPath(map[string]string{"firewalld": "firewalld", "firewall-cmd": "firewalld", "dbus-daemon": "dbus-daemon"}); err != nil {
		t.Skipf("firewalld not usable: %v", err)
	}
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// hostRules returns the host's rules without counters and timestamps.
func hostRules(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	nft, err := execx.Output(ctx, execx.Host{}, "nft", "-s", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	ipt, err := execx.Output(ctx, execx.Host{}, "iptables-save")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(ipt, "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, counters.ReplaceAllString(l, "[0:0]"))
		}
	}
	return nft + "\n---\n" + strings.Join(keep, "\n")
}

// comms counts the processes named comm on the host.
func comms(comm string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == comm {
			n++
		}
	}
	return n
}

// hasChain reports whether iptables-nft has the nat chain name in the node.
func hasChain(t *testing.T, r execx.Runner, name string) bool {
	out, err := execx.Output(context.Background(), r, "iptables-nft", "-t", "nat", "-S")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(out, "-N "+name+"\n")
}

func listTree(root string) string {
	var names []string
	_ = filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { names = append(names, p); return nil })
	sort.Strings(names)
	return strings.Join(names, "\n")
}

// nodeProcs lists the commands running in the node (its own PID
// namespace), leaving out the node's own init and dead processes its init
// has not reaped yet.
func nodeProcs(t *testing.T, n node.Node) []string {
	out, err := execx.Output(context.Background(), n, "ps", "-e", "-o", "stat=,comm=")
	if err != nil {
		t.Fatal(err)
	}
	var procs []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || strings.HasPrefix(f[0], "Z") {
			continue
		}
		if c := f[1]; c != "ps" && c != "sleep" && c != "tini" {
			procs = append(procs, c)
		}
	}
	return procs
}

func TestDaemon(t *testing.T) {
	needFirewalld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before, etcBefore, polkitBefore := hostRules(t), listTree("/etc/firewalld"), comms("polkitd")
	n := testenv.Node(t, "fw")
	run := func(argv ...string) string {
		t.Helper()
		out, err := execx.Output(ctx, n, argv...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	run("iptables-nft", "-t", "nat", "-N", "KUBE-SERVICES")

	t0 := time.Now()
	d, err := Start(ctx, n)
	t.Cleanup(func() { _ = d.Stop(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("firewalld %s ready in %v", d.Version(), time.Since(t0).Round(time.Millisecond))
	if !regexp.MustCompile(`^\d+\.\d+`).MatchString(d.Version()) {
		t.Errorf("Version = %q, want a version number", d.Version())
	}
	t.Logf("observation: iptables-nft chain KUBE-SERVICES survives firewalld start: %v", hasChain(t, n, "KUBE-SERVICES"))

	if z, err := d.Cmd(ctx, "--get-default-zone"); err != nil || z != "public" {
		t.Errorf("--get-default-zone = %q, %v; want public", z, err)
	}
	chain := run("nft", "list", "chain", "inet", "firewalld", "filter_FORWARD")
	var rules []string
	for _, l := range strings.Split(chain, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && l != "}" && !strings.HasSuffix(l, "{") && !strings.HasPrefix(l, "type ") {
			rules = append(rules, l)
		}
	}
	if !strings.Contains(chain, "\t\tct status dnat accept\n") {
		t.Errorf("filter_FORWARD lacks `ct status dnat accept`:\n%s", chain)
	}
	if len(rules) == 0 || rules[len(rules)-1] != "reject with icmpx admin-prohibited" {
		t.Errorf("filter_FORWARD does not end in `reject with icmpx admin-prohibited`:\n%s", chain)
	}

	run("iptables-nft", "-t", "nat", "-N", "KUBE-SERVICES")
	if out, err := d.Cmd(ctx, "--permanent", "--zone=trusted", "--add-source=10.1.0.0/16"); err != nil || out != "success" {
		t.Fatalf("--add-source = %q, %v", out, err)
	}
	if out, err := d.Cmd(ctx, "--reload"); err != nil || out != "success" {
		t.Fatalf("--reload = %q, %v", out, err)
	}
	t.Logf("observation: iptables-nft chain KUBE-SERVICES survives --reload: %v", hasChain(t, n, "KUBE-SERVICES"))
	if out, err := d.Cmd(ctx, "--zone=trusted", "--list-sources"); err != nil || out != "10.1.0.0/16" {
		t.Errorf("--list-sources = %q, %v", out, err)
	}
	// Reload, firewall-cmd's D-Bus call made with dbus-send, reloads: a
	// runtime-only port is gone after it, the permanent source stays.
	if out, err := d.Cmd(ctx, "--zone=public", "--add-port=1234/tcp"); err != nil || out != "success" {
		t.Fatalf("--add-port = %q, %v", out, err)
	}
	if out, err := d.Reload(ctx); err != nil || !strings.HasPrefix(out, "method return") {
		t.Fatalf("Reload = %q, %v", out, err)
	}
	if out, err := d.Cmd(ctx, "--zone=public", "--query-port=1234/tcp"); err == nil || out != "no" {
		t.Errorf("runtime port after Reload: --query-port = %q, %v; want no (exit 1)", out, err)
	}
	if out, err := d.Cmd(ctx, "--zone=trusted", "--list-sources"); err != nil || out != "10.1.0.0/16" {
		t.Errorf("after Reload, --list-sources = %q, %v", out, err)
	}
	if rs := run("nft", "list", "ruleset"); !strings.Contains(rs, "ip saddr 10.1.0.0/16 goto filter_FWD_trusted") {
		t.Errorf("ruleset lacks the trusted source:\n%s", rs)
	}
	// The permanent configuration lands in the node's private
	// /etc/firewalld, not the host's.
	if _, err := execx.Output(ctx, n, "test", "-f", "/etc/firewalld/zones/trusted.xml"); err != nil {
		t.Errorf("permanent config not in the node's /etc/firewalld: %v", err)
	}
	if procs := nodeProcs(t, n); len(procs) < 2 {
		t.Errorf("node processes while running: %v, want dbus-daemon and firewalld", procs)
	}

	t0 = time.Now()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v", time.Since(t0).Round(time.Millisecond))
	if err := d.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := d.Cmd(ctx, "--state"); err == nil {
		t.Errorf("Cmd after Stop succeeded")
	}
	if _, err := d.Reload(ctx); err == nil {
		t.Errorf("Reload after Stop succeeded")
	}
	if procs := nodeProcs(t, n); len(procs) > 0 {
		t.Errorf("processes left in the node after Stop: %v", procs)
	}
	if n := comms("polkitd"); n > polkitBefore {
		t.Errorf("polkitd processes: %d, was %d", n, polkitBefore)
	}
	if rs := run("nft", "list", "ruleset"); strings.Contains(rs, "table inet firewalld") {
		t.Errorf("firewalld left its table behind:\n%s", rs)
	}
	if after := hostRules(t); after != before {
		t.Errorf("host rules changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if etc := listTree("/etc/firewalld"); etc != etcBefore {
		t.Errorf("host /etc/firewalld changed:\n%s\nwas:\n%s", etc, etcBefore)
	}
}

// TestStartFailureCleansUp interrupts Start at several points and checks it
// leaves no process behind in the node.
func TestStartFailureCleansUp(t *testing.T) {
	needFirewalld(t)
	n := testenv.Node(t, "fw")
	for _, after := range []time.Duration{time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), after)
		d, err := Start(ctx, n)
		cancel()
		if err == nil {
			_ = d.Stop(context.Background())
			t.Logf("start within %v succeeded", after)
			continue
		}
		t.Logf("interrupted after %v: %v", after, err)
		if d != nil || d.Stop(context.Background()) != nil {
			t.Errorf("failed Start returned a daemon")
		}
		if procs := nodeProcs(t, n); len(procs) > 0 {
			t.Errorf("Start interrupted after %v left processes: %v (%v)", after, procs, err)
		}
	}
}

// TestParallel runs three instances at once in three nodes; the other
// nodes' daemons are invisible and untouched by each node's pkill.
func TestParallel(t *testing.T) {
	needFirewalld(t)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		n := testenv.Node(t, "fw")
		go func() {
			ctx := context.Background()
			d, err := Start(ctx, n)
			if err == nil {
				_, err = d.Cmd(ctx, "--zone=trusted", "--add-source=10.9.0.0/16")
			}
			if serr := d.Stop(ctx); err == nil {
				err = serr
			}
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkStart times firewalld's start (and stop) in a node; the design
// target is under a second.
func BenchmarkStart(b *testing.B) {
	needFirewalld(b)
	n := testenv.Node(b, "fw")
	for i := 0; i < b.N; i++ {
		d, err := Start(context.Background(), n)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
