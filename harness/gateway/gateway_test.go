package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"lab/harness/netns"
	"lab/harness/netnsprov"
	"lab/harness/probe"
)

func TestParsePortRange(t *testing.T) {
	for in, want := range map[string]PortRange{"32768-65535": {32768, 65535}, "0-65535": {0, 65535}, " 443 ": {443, 443}} {
		got, err := ParsePortRange(in)
		if err != nil || got != want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1-", "65535-1", "0-65536", "-1-5", "a-b"} {
		if _, err := ParsePortRange(bad); err == nil {
			t.Errorf("ParsePortRange(%q) accepted", bad)
		}
	}
	r := PortRange{32768, 65535}
	if r.Contains(32767) || !r.Contains(32768) || !r.Contains(65535) || r.String() != "32768-65535" {
		t.Errorf("PortRange %v: Contains/String wrong", r)
	}
}

func TestRuleset(t *testing.T) {
	rs := Ruleset(Firewall{Name: "hetzner-robot", AckPorts: &PortRange{32768, 65535}})
	for _, want := range []string{
		`iifname "eth1" tcp flags & ack == ack tcp dport 32768-65535 counter name "inbound_ack_accepted" accept`,
		`iifname "eth1" tcp flags & ack == ack add @dropped_flows { ip daddr . tcp dport } counter name "inbound_dropped" drop`,
		`iifname "eth0" tcp flags & (syn | ack) == syn add @syn_sources { ip saddr . tcp sport }`,
		`comment "hetzner-robot: inbound TCP with ACK only to ports 32768-65535"`,
	} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
	if strings.Contains(rs, "ct ") {
		t.Errorf("the provider firewall must be stateless:\n%s", rs)
	}
	open := Ruleset(Firewall{})
	if strings.Contains(open, " drop\n") || !strings.Contains(open, "@syn_sources") {
		t.Errorf("without a port range the gateway must only record SYNs:\n%s", open)
	}
}

func TestParseTable(t *testing.T) {
	doc := `{"nftables": [{"metainfo": {"version": "1.0.6"}},
	{"table": {"family": "inet", "name": "provider_firewall"}},
	{"counter": {"family": "inet", "name": "inbound_ack_accepted", "table": "provider_firewall", "packets": 7, "bytes": 400}},
	{"counter": {"family": "inet", "name": "inbound_dropped", "table": "provider_firewall", "packets": 3, "bytes": 180}},
	{"set": {"family": "inet", "name": "syn_sources", "table": "provider_firewall", "elem": [{"concat": ["198.51.100.10", 40001]}, {"concat": ["198.51.100.10", 2000]}]}},
	{"set": {"family": "inet", "name": "dropped_flows", "table": "provider_firewall", "elem": [{"elem": {"val": {"concat": ["198.51.100.10", 2000]}, "counter": {"packets": 3, "bytes": 180}}}]}}]}`
	var s Snapshot
	if err := parseTable([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("198.51.100.10")
	if s.Accepted != 7 || s.Dropped != 3 || len(s.SynSources) != 2 || s.SynSources[0] != (Flow{a, 2000, 0}) ||
		len(s.DroppedFlows) != 1 || s.DroppedFlows[0] != (Flow{a, 2000, 3}) {
		t.Errorf("parsed %+v", s)
	}
}

// TestFirewallKernel sends real connections through a gateway from a host
// whose ephemeral ports are first below, then inside the accepted range.
func TestFirewallKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root for network namespaces")
	}
	ctx := context.Background()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	env, err := netnsprov.New().NewEnv(ctx, "lab-gwtest-"+hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	fw := Firewall{Name: "test", AckPorts: &PortRange{32768, 65535}}
	gw, err := New(ctx, env, "gw", netip.MustParsePrefix("198.51.100.1/24"), netip.MustParsePrefix("203.0.113.0/24"), fw)
	if err != nil {
		t.Fatal(err)
	}
	web, addr, err := gw.AddHost(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(web.NetNS(), 80, "web")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	node, err := env.AddHost(ctx, "node")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Connect(ctx, node, "public", "eth0", netip.MustParsePrefix("198.51.100.10/24")); err != nil {
		t.Fatal(err)
	}
	if err := gw.RouteThrough(ctx, node); err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr.String() + "/"
	for _, c := range []struct {
		ports    string
		lo, hi   int
		failures int
	}{{"20000 20049", 20000, 20049, 10}, {"40000 40049", 40000, 40049, 0}} {
		if err := netns.Do(node.NetNS(), func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte(c.ports), 0o644)
		}); err != nil {
			t.Fatal(err)
		}
		if err := gw.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		srv.Reset()
		before, err := gw.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res := probe.HTTPBatch(ctx, node.NetNS(), url, 10, 10, 500*time.Millisecond)
		after, err := gw.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Failures != c.failures {
			t.Errorf("ports %s: %d failures (%v), want %d", c.ports, res.Failures, res.Outcomes, c.failures)
		}
		// A port freed by a finished connection may be reused by a later
		// one; the set holds distinct (address, port) pairs.
		if n := len(after.SynSources); n < 5 || n > 10 {
			t.Errorf("ports %s: gateway saw %d distinct SYN sources, want 5-10", c.ports, n)
		}
		for _, f := range after.SynSources {
			if f.Port < c.lo || f.Port > c.hi {
				t.Errorf("ports %s: gateway saw source port %d", c.ports, f.Port)
			}
		}
		dropped := after.Dropped - before.Dropped
		if flows := len(after.DroppedFlows); (c.failures > 0) != (dropped > 0) || (c.failures > 0) != (flows > 0) || flows > c.failures {
			t.Errorf("ports %s: dropped %d packets in %d flows, want drops exactly for %d failures", c.ports, dropped, len(after.DroppedFlows), c.failures)
		}
		if got := len(srv.Peers()); got != 10-c.failures {
			t.Errorf("ports %s: server accepted %d connections, want %d", c.ports, got, 10-c.failures)
		}
	}
	rules, err := gw.Rules(ctx)
	if err != nil || !strings.Contains(rules, "inbound_dropped") {
		t.Errorf("Rules() = %q, %v", rules, err)
	}
}
