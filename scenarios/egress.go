package scenarios

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"lab/harness/driver"
	"lab/harness/gateway"
	"lab/harness/probe"
)

// Egress batches: DefaultConnections fresh connections measure a failure
// rate near 50% within +-5 points at 95% confidence (1.96*sqrt(.25/400)
// = 4.9); EgressConcurrency of them run at once (more than the failures
// expected among 400, so every failing connection waits out one timeout
// together), each bounded by EgressTimeout. A healthy connection through
// the gateway takes milliseconds; one whose SYN-ACK the provider firewall
// drops never completes, whatever the timeout, since every retransmitted
// SYN-ACK goes to the same port. The timeout leaves room for two SYN
// retransmissions (after 1 s and 3 s: a packet lost to a busy machine does
// not count as a failure) and for the slow successes of a machine under
// load: at 1.5 s, two matrices at once on 2 cores turned 11% of healthy
// connections into timeouts (a 61% failure rate where 50% is expected),
// and at 3.5 s, two matrices at once at load 16-25 (six other builds on
// the machine) still did, up to 97% (successes took up to 6.7 s). Behind a
// provider firewall the batch ends on the gateway's drop record as soon as
// it accounts for every waiting connection (gateway.Measure), so the
// timeout is only the fallback and can leave room for three SYN
// retransmissions (after 1, 3 and 7 s) on a loaded machine.
const (
	DefaultConnections = 400
	EgressConcurrency  = 512
	EgressTimeout      = 10 * time.Second
)

func init() {
	register(Def{Subject: "egress", Pattern: `^a provider gateway "([^"]+)" in front of "([^"]+)" with the internet "([^"]+)"$`,
		Params:  []Param{P("gateway", Name), P("nodes", NameList), P("internet", CIDR)},
		cell:    addHost("gateway"),
		Doc:     "Boots the hosting provider's router at the public network's first address (198.51.100.1) with an internet network (an IPv4 CIDR; the gateway takes its first address) behind it, and makes it the default gateway of the nodes (comma list). Its stateless nft firewall on traffic towards the nodes is the profile's provider_firewall: inbound TCP with ACK set is accepted only to tcp_ack_ports and dropped otherwise (no provider_firewall: everything passes). The gateway records the source port of every SYN leaving the nodes and counts what it drops; its rules are evidence.",
		Example: `Given a provider gateway "gw" in front of "node1" with the internet "203.0.113.0/24"`,
		bind:    func(w *World) any { return w.aGateway }})
	register(Def{Subject: "egress", Pattern: `^an internet host "([^"]+)" behind "([^"]+)" serving HTTP on port ([^ "]+)$`,
		Params:  []Param{P("host", Name), P("gateway", Name), P("port", Port)},
		cell:    addHost("internet"),
		Doc:     "Boots a host on the gateway's internet network (from .10) running a real HTTP server on the port that records the peer address of every connection it accepts. Records internet_ip_NAME.",
		Example: `Given an internet host "web" behind "gw" serving HTTP on port 80`,
		bind:    func(w *World) any { return w.anInternetHost }})
	register(Def{Subject: "egress", Pattern: `^pod egress from "([^"]+)" on "([^"]+)" is masqueraded with "([^"]*)"$`,
		Params:  []Param{P("pod CIDR", CIDR), P("node", Name), P("options", Text)},
		Doc:     "Writes the pod egress NAT rule as flannel and Calico do, with the node's iptables variant: `-t nat -A POSTROUTING -s CIDR ! -d CIDR -j MASQUERADE OPTIONS` (e.g. --random-fully). Run again for the same CIDR, it replaces the rule: the node-side fix is `--to-ports 32768-65535 --random-fully` (written, as Felix's natPortRange does, for tcp and udp, plus the plain rule for other protocols). The nat table is evidence.",
		Example: `Given pod egress from "10.1.0.0/16" on "node1" is masqueraded with "--random-fully"`,
		bind:    func(w *World) any { return w.masquerade }})
	register(Def{Subject: "egress", Pattern: `^"([^"]+)" opens (?:([^ "]+) )?HTTP connections to "([^"]+)" as "([^"]+)"$`,
		Params: []Param{P("from", Name), Opt("count", Count), P("host", Name), P("observation", Name)},
		Doc: "Sends N HTTP GETs (default 400: a rate near 50% within +-5 points at 95% confidence), each on a fresh TCP connection, from a pod or a host (a node: hostNetwork) to an internet host, up to 512 at a time, each with a 10 s timeout (room for three SYN retransmissions and a busy machine; a connection whose SYN-ACK a stateless firewall drops fails whatever the timeout). Behind a provider firewall the batch ends early on a positive signal: once the gateway's dropped flows and the server's accepted connections account for every connection, the connections still waiting are exactly the dropped ones and end with outcome dropped (the evidence says so and when); otherwise the timeout ends them. Records NAME_egress_failure_rate (percent of requests without a 200), NAME_connections, NAME_failures, " +
			"NAME_source_port_min and NAME_source_port_max (the source ports of the batch's SYNs as the gateway saw them, after the node's SNAT), NAME_predicted_failure_rate (percent of those ports outside the firewall's ACK range), NAME_dropped_at_gateway (inbound packets of the batch's connections the gateway's nft dropped), NAME_dropped_flows_at_gateway (the batch's connections, by address and port after SNAT, that had inbound packets dropped) and NAME_local_port_range (the sender's net.ipv4.ip_local_port_range). Outcomes, the port histogram, the server's view and the gateway's counters are evidence.",
		Example: `When "app" opens 400 HTTP connections to "web" as "pod"`,
		bind:    func(w *World) any { return w.openConnections }})
}

func (w *World) aGateway(ctx context.Context, name, nodes, internet string) error {
	pfx, err := ParseCIDR(internet)
	if err != nil {
		return fmt.Errorf("gateway %s: internet: %w", name, err)
	}
	ns, err := ParseNameList(nodes)
	if err != nil {
		return fmt.Errorf("gateway %s: nodes: %w", name, err)
	}
	gw, err := w.D.AddGateway(ctx, name, pfx, ns)
	if err != nil {
		return err
	}
	rules, err := gw.Rules(ctx)
	if err != nil {
		return err
	}
	w.RuleDump(fmt.Sprintf("gateway %s: %s (nft list chain inet %s forward)", name, gw.Firewall.Describe(), gateway.Table), rules)
	return nil
}

func (w *World) anInternetHost(ctx context.Context, name, gw, port string) error {
	p, err := ParsePort(port)
	if err != nil {
		return fmt.Errorf("internet host %s: %w", name, err)
	}
	h, err := w.D.AddInternetHost(ctx, name, gw, p)
	if err != nil {
		return err
	}
	w.Observe("internet_ip_"+name, h.Addr.String())
	return nil
}

func (w *World) masquerade(ctx context.Context, cidr, node, opts string) error {
	pfx, err := ParseCIDR(cidr)
	if err != nil {
		return fmt.Errorf("pod egress: %w", err)
	}
	dump, err := w.D.Masquerade(ctx, node, pfx.Masked(), strings.Fields(opts))
	if err != nil {
		return err
	}
	w.RuleDump(fmt.Sprintf("pod egress from %s on %s masqueraded with %q: nat table", cidr, node, opts), dump)
	return nil
}

// round1 rounds to one decimal, for percentages.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

func (w *World) openConnections(ctx context.Context, from, count, to, obs string) error {
	n := DefaultConnections
	if count != "" {
		v, err := ParseCount(count)
		if err != nil {
			return err
		}
		n = v
	}
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	host, ok := w.D.InternetHost(to)
	if !ok {
		return fmt.Errorf("no internet host %q; add `Given an internet host %q behind \"GATEWAY\" serving HTTP on port N` first", to, to)
	}
	portRange, err := src.ReadFile(ctx, "/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return err
	}
	portRange = strings.Join(strings.Fields(portRange), " ")
	e, err := gateway.Measure(ctx, host.Gateway, src, host.Server, netip.AddrPortFrom(host.Addr, uint16(host.Port)), n, EgressConcurrency, EgressTimeout)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(e.SourcePorts) == 0 {
		return fmt.Errorf("%s -> %s: the gateway saw no SYN; is %s routed through %s?", from, to, from, host.Gateway.Name())
	}
	w.Observe(obs+"_egress_failure_rate", round1(e.Batch.FailureRate()))
	w.Observe(obs+"_connections", e.Batch.N)
	w.Observe(obs+"_failures", e.Batch.Failures)
	w.Observe(obs+"_source_port_min", e.SourcePorts[0])
	w.Observe(obs+"_source_port_max", e.SourcePorts[len(e.SourcePorts)-1])
	w.Observe(obs+"_predicted_failure_rate", round1(e.PredictedFailureRate()))
	w.Observe(obs+"_dropped_at_gateway", e.DroppedPackets)
	w.Observe(obs+"_dropped_flows_at_gateway", e.DroppedFlows)
	w.Observe(obs+"_local_port_range", portRange)
	w.Evidence(fmt.Sprintf("%s: %d connections %s -> %s:%d", obs, n, from, host.Addr, host.Port), describeEgress(e, host, portRange))
	rules, err := host.Gateway.Rules(ctx)
	if err != nil {
		return err
	}
	w.RuleDump(obs+": gateway "+host.Gateway.Name()+" counters after the batch", rules)
	return nil
}

// describeEgress renders a batch for evidence: outcomes, the three views of
// the source ports, and a histogram of the ports the gateway saw.
func describeEgress(e gateway.Egress, host driver.InternetHost, portRange string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sender's net.ipv4.ip_local_port_range: %s\n", portRange)
	fmt.Fprintf(&b, "client: %d requests in %s, %d failed (%.1f%%), slowest success %s\n",
		e.Batch.N, e.Batch.Elapsed.Round(time.Millisecond), e.Batch.Failures, e.Batch.FailureRate(), e.Batch.SlowestOK.Round(time.Millisecond))
	if e.Batch.DecidedBy != "" {
		fmt.Fprintf(&b, "positive signal: the batch ended %s after it began, %s\n", e.Batch.DecidedAfter.Round(time.Millisecond), e.Batch.DecidedBy)
	} else {
		b.WriteString("positive signal: none; the batch ended when its last connection ended (or timed out)\n")
	}
	for _, k := range e.Batch.Kinds() {
		fmt.Fprintf(&b, "  %-12s %d", k, e.Batch.Outcomes[k])
		if d := e.Batch.Details[k]; d != "" && k != probe.Decided {
			fmt.Fprintf(&b, "  (e.g. %s)", strings.TrimSpace(d))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "gateway %s (%s): %d distinct SYN source ports %d-%d, %d outside the ACK range (%.1f%%); dropped %d packets of %d of these flows\n",
		host.Gateway.Name(), host.Gateway.Firewall.Describe(), len(e.SourcePorts), e.SourcePorts[0], e.SourcePorts[len(e.SourcePorts)-1],
		e.OutsideAck, e.PredictedFailureRate(), e.DroppedPackets, e.DroppedFlows)
	if len(e.ServerPorts) > 0 {
		fmt.Fprintf(&b, "server %s: accepted %d connections, peer ports %d-%d\n", host.Name, len(e.ServerPorts), e.ServerPorts[0], e.ServerPorts[len(e.ServerPorts)-1])
	} else {
		fmt.Fprintf(&b, "server %s: accepted no connection\n", host.Name)
	}
	b.WriteString("source ports seen at the gateway, by 4096-port bucket:\n")
	buckets := make([]int, 16)
	for _, p := range e.SourcePorts {
		buckets[p/4096]++
	}
	for i, c := range buckets {
		fmt.Fprintf(&b, "  %5d-%5d %4d %s\n", i*4096, i*4096+4095, c, strings.Repeat("#", c/2))
	}
	return b.String()
}
