package gateway

import (
	"net/netip"
	"strings"
	"testing"
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
	if strings.Contains(rs, "udp dport") {
		t.Errorf("without UDPPorts UDP must pass unfiltered:\n%s", rs)
	}
	udp := Ruleset(Firewall{Name: "hetzner-robot", AckPorts: &PortRange{32768, 65535}, UDPPorts: &PortRange{32768, 65535}})
	for _, want := range []string{
		`iifname "eth1" udp dport 32768-65535 counter name "inbound_ack_accepted" accept`,
		`iifname "eth1" meta l4proto udp add @dropped_udp_flows { ip daddr . udp dport } counter name "inbound_dropped" drop`,
		`inbound UDP only to ports 32768-65535`,
	} {
		if !strings.Contains(udp, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, udp)
		}
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
