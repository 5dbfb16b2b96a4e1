package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lab/harness/gateway"
)

func init() {
	register(Def{Subject: "egress", Pattern: `^"([^"]+)" sends ([^ "]+) UDP datagrams to internet host "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("count", Count), P("host", Name), P("observation", Name)},
		Doc:     "Sends N UDP datagrams from a pod or a host (a node: hostNetwork) to an internet host's port (its server answers UDP there too), each from a fresh socket (a fresh source port, SNATed by the node for a pod), 512 at a time, each waiting for its answer up to the egress timeout (as a TCP batch: a busy machine answers late); the datagrams whose answers the gateway's firewall dropped (its drop record) end as dropped once they are exactly the ones still waiting, instead of waiting out the timeout. Records NAME_udp_datagrams, NAME_udp_failures, NAME_udp_failure_rate (percent without an answer), NAME_udp_dropped_flows_at_gateway (answers the gateway's provider firewall dropped, by node address and port) and NAME_udp_dropped_port_max (the highest of those ports, 0 when none). Outcomes and the dropped ports are evidence.",
		Example: `When "app" sends 400 UDP datagrams to internet host "web" as "pod"`,
		bind:    func(w *World) any { return w.udpToInternet }})
}

func (w *World) udpToInternet(ctx context.Context, from, count, to, obs string) error {
	host, ok := w.D.InternetHost(to)
	n, err := ParseCount(count)
	switch {
	case !ok:
		return fmt.Errorf("no internet host %q to send UDP to; add `Given an internet host %q behind \"GATEWAY\" serving HTTP on port N` first", to, to)
	case err != nil:
		return err
	}
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	if err := host.Gateway.Reset(ctx); err != nil {
		return err
	}
	addr := netip.AddrPortFrom(host.Addr, uint16(host.Port)).String()
	b, err := gateway.UDPBatch(ctx, host.Gateway, src, addr, n, EgressConcurrency, EgressTimeout)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	snap, err := host.Gateway.Snapshot(ctx)
	if err != nil {
		return err
	}
	maxPort := 0
	var ports []string
	for _, f := range snap.DroppedUDPFlows {
		maxPort = max(maxPort, f.Port)
		if len(ports) < 20 {
			ports = append(ports, strconv.Itoa(f.Port))
		}
	}
	w.Observe(obs+"_udp_datagrams", b.N)
	w.Observe(obs+"_udp_failures", b.Failures)
	w.Observe(obs+"_udp_failure_rate", round1(b.FailureRate()))
	w.Observe(obs+"_udp_dropped_flows_at_gateway", len(snap.DroppedUDPFlows))
	w.Observe(obs+"_udp_dropped_port_max", maxPort)
	var ev strings.Builder
	fmt.Fprintf(&ev, "%d datagrams %s -> %s (%s) in %s, %d without an answer\n", b.N, from, addr, to, b.Elapsed.Round(time.Millisecond), b.Failures)
	for _, k := range b.Kinds() {
		fmt.Fprintf(&ev, "  %-12s %d  %s\n", k, b.Outcomes[k], strings.TrimSpace(b.Details[k]))
	}
	fmt.Fprintf(&ev, "gateway %s (%s): dropped answers of %d flows; first ports: %s\n", host.Gateway.Name(), host.Gateway.Firewall.Describe(), len(snap.DroppedUDPFlows), strings.Join(ports, " "))
	w.Evidence(obs+": UDP batch to "+to, ev.String())
	return nil
}
