// Package gateway simulates a hosting provider's network in front of a
// cell's nodes: a router namespace between the nodes' public network and an
// "internet" network, with the provider's stateless firewall on the traffic
// towards the nodes (nft, counters and sets that record what crossed it),
// and internet hosts running real HTTP servers that record the peer address
// of every connection. Hetzner's firewall, for instance, only lets inbound
// TCP packets with ACK set through to destination ports 32768-65535, which
// breaks pod egress that is masqueraded to random source ports.
//
// The rule set is built by pure functions (tested without a kernel) and
// loaded with the real nft binary in the gateway's namespace only.
package gateway

import (
	"fmt"
	"strconv"
	"strings"
)

// Table is the nft table (family inet) holding the provider firewall.
const Table = "provider_firewall"

// Names of the table's sets and counters.
const (
	// SetSynSources records ip saddr . tcp sport of every TCP SYN from the
	// node side: the (post-SNAT) source ports of new connections.
	SetSynSources = "syn_sources"
	// SetDroppedFlows records ip daddr . tcp dport, with a per-element
	// counter, of inbound packets the firewall dropped.
	SetDroppedFlows = "dropped_flows"
	// SetDroppedUDPFlows records ip daddr . udp dport, with a per-element
	// counter, of inbound UDP packets the firewall dropped (apart from TCP:
	// a failed TCP connection's SYN-ACK retransmits keep arriving).
	SetDroppedUDPFlows = "dropped_udp_flows"
	// CounterAccepted counts inbound TCP packets with ACK let through.
	CounterAccepted = "inbound_ack_accepted"
	// CounterDropped counts inbound packets dropped.
	CounterDropped = "inbound_dropped"
)

// Interface names inside the gateway.
const (
	// NodeSide is the gateway's interface on the nodes' public network.
	NodeSide = "eth0"
	// InternetSide is the gateway's interface on the internet network.
	InternetSide = "eth1"
)

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Lo, Hi int }

// ParsePortRange parses "32768-65535" or a single port "443".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || l < 0 || h > 65535 || l > h {
		return PortRange{}, fmt.Errorf("port range %q: want LO-HI with 0 <= LO <= HI <= 65535", s)
	}
	return PortRange{Lo: l, Hi: h}, nil
}

// String renders the range as nft writes it ("32768-65535", "443").
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// Contains reports whether port p is in the range.
func (r PortRange) Contains(p int) bool { return p >= r.Lo && p <= r.Hi }

// Firewall is the provider's stateless firewall on traffic towards the nodes.
type Firewall struct {
	// Name says whose firewall this is (e.g. hetzner-robot); it becomes the
	// table's comment.
	Name string
	// AckPorts is the only destination port range inbound TCP packets with
	// ACK set may have; nil lets everything through.
	AckPorts *PortRange
	// UDPPorts is the only destination port range inbound UDP packets may
	// have (a stateless firewall's rule for UDP answers); nil lets all UDP
	// through.
	UDPPorts *PortRange
}

// Describe says in one line what the firewall lets through.
func (f Firewall) Describe() string {
	if f.AckPorts == nil {
		return "no provider firewall: everything forwarded"
	}
	name := f.Name
	if name == "" {
		name = "provider firewall"
	}
	d := fmt.Sprintf("%s: inbound TCP with ACK only to ports %s", name, f.AckPorts)
	if f.UDPPorts != nil {
		d += fmt.Sprintf(", inbound UDP only to ports %s", f.UDPPorts)
	}
	return d
}

// Ruleset returns the nft script for the gateway. SYNs leaving the node side
// are recorded in SetSynSources; inbound TCP packets with ACK set are
// accepted to AckPorts and dropped (counted per flow) otherwise; with
// UDPPorts, inbound UDP likewise (the same counters, dropped flows in
// SetDroppedUDPFlows). The filter
// is stateless: it matches on flags and ports only, never on conntrack.
func Ruleset(f Firewall) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("table inet %s {", Table)
	w("\tcomment %q", f.Describe())
	w("\tset %s {", SetSynSources)
	w("\t\ttype ipv4_addr . inet_service")
	w("\t\tsize 262144")
	w("\t\tflags dynamic")
	w("\t}")
	for _, set := range []string{SetDroppedFlows, SetDroppedUDPFlows} {
		w("\tset %s {", set)
		w("\t\ttype ipv4_addr . inet_service")
		w("\t\tsize 262144")
		w("\t\tflags dynamic")
		w("\t\tcounter")
		w("\t}")
	}
	w("\tcounter %s {", CounterAccepted)
	w("\t}")
	w("\tcounter %s {", CounterDropped)
	w("\t}")
	w("\tchain forward {")
	w("\t\ttype filter hook forward priority filter; policy accept;")
	w("\t\tiifname %q tcp flags & (syn | ack) == syn add @%s { ip saddr . tcp sport }", NodeSide, SetSynSources)
	if f.AckPorts != nil {
		w("\t\tiifname %q tcp flags & ack == ack tcp dport %s counter name %q accept", InternetSide, f.AckPorts, CounterAccepted)
		w("\t\tiifname %q tcp flags & ack == ack add @%s { ip daddr . tcp dport } counter name %q drop", InternetSide, SetDroppedFlows, CounterDropped)
	}
	if f.AckPorts != nil && f.UDPPorts != nil {
		w("\t\tiifname %q udp dport %s counter name %q accept", InternetSide, f.UDPPorts, CounterAccepted)
		w("\t\tiifname %q meta l4proto udp add @%s { ip daddr . udp dport } counter name %q drop", InternetSide, SetDroppedUDPFlows, CounterDropped)
	}
	w("\t}")
	w("}")
	return b.String()
}
