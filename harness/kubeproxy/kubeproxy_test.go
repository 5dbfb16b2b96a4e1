package kubeproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/iptables"
	"lab/harness/netns"
)

func svc(affinity bool, eps ...string) Service {
	s := Service{Namespace: "default", Name: "web", PortName: "http", ClusterIP: netip.MustParseAddr("10.152.183.20"), Port: 80, ClientIPAffinity: affinity}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, Endpoint{IP: netip.MustParseAddr(e), Port: 8080})
	}
	return s
}

var cfg4 = Config{ClusterCIDR: netip.MustParsePrefix("10.1.0.0/16")}

func TestRestoreShape(t *testing.T) {
	s := svc(false, "10.1.84.2", "10.1.84.3")
	d, err := iptables.Parse(Restore(cfg4, []Service{s}))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Jumps("nat", "KUBE-SERVICES"); got != 1 {
		t.Errorf("KUBE-SERVICES jumps = %d, want 1", got)
	}
	if got := d.Jumps("nat", s.SvcChain()); got != 3 { // mark-masq + 2 endpoints
		t.Errorf("%s jumps = %d, want 3", s.SvcChain(), got)
	}
	svcRules := d.Chain("nat", s.SvcChain()).Rules
	if !strings.Contains(svcRules[1].Raw, "--probability 0.50000000000") {
		t.Errorf("first endpoint rule lacks probability 0.5: %s", svcRules[1].Raw)
	}
	if d.Chain("nat", "KUBE-MARK-MASQ").Rules[0].Raw != "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000" {
		t.Errorf("KUBE-MARK-MASQ = %q", d.Chain("nat", "KUBE-MARK-MASQ").Rules[0].Raw)
	}
	if strings.Contains(Restore(cfg4, []Service{s}), "recent") {
		t.Error("no affinity but payload uses -m recent")
	}
	aff := Restore(cfg4, []Service{svc(true, "10.1.84.2")})
	for _, want := range []string{"--rcheck --seconds 10800 --reap", "--rsource --set"} {
		if !strings.Contains(aff, want) {
			t.Errorf("ClientIP affinity payload lacks %q", want)
		}
	}
	if !strings.HasPrefix(s.SvcChain(), "KUBE-SVC-") || len(s.SvcChain()) != 25 {
		t.Errorf("chain name %q not in kube-proxy's form", s.SvcChain())
	}
}

func TestNoEndpointsRejects(t *testing.T) {
	out := Restore(cfg4, []Service{svc(false)})
	if !strings.Contains(out, "has no endpoints\" -m tcp --dport 80 -j REJECT") {
		t.Errorf("no REJECT for a service without endpoints:\n%s", out)
	}
}

func tempNS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root for network namespaces")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "lab-kptest-" + hex.EncodeToString(b)
	path, err := netns.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(context.Background(), name) })
	return path
}

// TestSyncAndCanaryKernel applies the payload with the real legacy binaries
// in a throwaway namespace, flushes it like firewalld does, and checks the
// monitor notices and re-syncs.
func TestSyncAndCanaryKernel(t *testing.T) {
	path := tempNS(t)
	shim := t.TempDir()
	if err := iptables.Shim(shim, "legacy"); err != nil {
		t.Fatal(err)
	}
	r := netns.Runner{Path: path, Env: []string{"PATH=" + shim + ":" + os.Getenv("PATH")}}
	ctx := context.Background()
	p := &Proxy{Runner: r, Config: cfg4}
	if err := p.SetServices(ctx, []Service{svc(true, "10.1.84.2")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(ctx); err != nil { // idempotent: jumps are not duplicated
		t.Fatal(err)
	}
	out, err := execx.Output(ctx, r, "iptables-legacy-save", "-t", "nat")
	if err != nil {
		t.Fatal(err)
	}
	d, err := iptables.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Jumps("nat", "PREROUTING"); got != 1 {
		t.Errorf("PREROUTING jumps after two syncs = %d, want 1", got)
	}
	if !p.CanaryPresent(ctx) {
		t.Fatal("canary missing after sync")
	}
	for _, tb := range []string{"nat", "filter", "mangle"} {
		if _, err := r.Run(ctx, execx.Cmd{Argv: []string{"iptables", "-t", tb, "-F"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(ctx, execx.Cmd{Argv: []string{"iptables", "-t", tb, "-X"}}); err != nil {
			t.Fatal(err)
		}
	}
	if p.CanaryPresent(ctx) {
		t.Fatal("canary survived the flush")
	}
	p.Watch(20 * time.Millisecond)
	defer p.Stop()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.WaitSynced(wctx); err != nil {
		t.Fatal(err)
	}
	// The canary is the last thing a sync creates; the counter follows it.
	for n, err := p.Syncs(); n < 3 || err != nil; n, err = p.Syncs() {
		if wctx.Err() != nil {
			t.Fatalf("syncs = %d (%v), want a third sync by the monitor", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
