package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"lab/harness/probe"
)

// warmUp bounds the connection that warms a path up before a batch.
const warmUp = 100 * time.Millisecond

// Egress is one batch of connections through the gateway, as the client,
// the gateway and the server each saw it.
type Egress struct {
	// Batch is the client's view: outcomes of the fresh connections.
	Batch probe.Batch
	// SourcePorts are the distinct source ports of the batch's SYNs as the
	// gateway saw them (after any SNAT on the node), sorted. A port a
	// finished connection freed may be reused, so there can be fewer ports
	// than connections.
	SourcePorts []int
	// OutsideAck counts SourcePorts the firewall's ACK range does not
	// contain: the connections the mechanism predicts will fail.
	OutsideAck int
	// DroppedFlows and DroppedPackets are the batch's flows the firewall
	// dropped inbound packets of, and those packets.
	DroppedFlows   int
	DroppedPackets uint64
	// ServerPorts are the peer ports of the connections the server
	// accepted, sorted.
	ServerPorts []int
}

// PredictedFailureRate is the share of SourcePorts outside the firewall's
// ACK range, in percent.
func (e Egress) PredictedFailureRate() float64 {
	if len(e.SourcePorts) == 0 {
		return 0
	}
	return 100 * float64(e.OutsideAck) / float64(len(e.SourcePorts))
}

// Client is where a batch is sent from (a pod or a host, through its
// node's agent).
type Client interface {
	// Dial opens one TCP connection to addr and closes it.
	Dial(ctx context.Context, addr string, timeout time.Duration) error
	// Batch sends n GETs to url on fresh connections.
	Batch(ctx context.Context, url string, n, concurrency int, timeout time.Duration) (probe.Batch, error)
}

// PeerServer is the server the batch goes to, recording its peers.
type PeerServer interface {
	// Peers returns the peers of the connections accepted since the last
	// reset; with reset, it forgets them.
	Peers(ctx context.Context, reset bool) ([]netip.AddrPort, error)
}

// Measure warms the path up, empties the gateway's flow sets and the
// server's peer list, sends n fresh HTTP GETs to srv at dst from the
// namespace srcNS (at most concurrency at a time, each bounded by timeout)
// and reads what the gateway and the server saw. Flows are matched to the batch by address and
// port, so late retransmissions of earlier batches do not count.
func Measure(ctx context.Context, g *Gateway, src Client, srv PeerServer, dst netip.AddrPort, n, concurrency int, timeout time.Duration) (Egress, error) {
	var e Egress
	// One connection first resolves the neighbors along the path (the node
	// learns the gateway's MAC, the gateway the server's, each side the
	// other's from the ARP request). Until then the kernel queues at most
	// a hundred-odd packets per neighbor and drops the rest of a burst: a
	// loss of the simulation's cold start, not of the provider firewall.
	// The SYN alone resolves them; its answer may be the firewall's drop,
	// so the warm-up does not wait for it long.
	_ = src.Dial(ctx, dst.String(), warmUp)
	if err := g.Reset(ctx); err != nil {
		return e, err
	}
	if _, err := srv.Peers(ctx, true); err != nil {
		return e, err
	}
	var err error
	if e.Batch, err = src.Batch(ctx, fmt.Sprintf("http://%s/", dst), n, concurrency, timeout); err != nil {
		return e, err
	}
	snap, err := g.Snapshot(ctx)
	if err != nil {
		return e, err
	}
	seen := map[Flow]bool{}
	for _, f := range snap.SynSources {
		seen[Flow{Addr: f.Addr, Port: f.Port}] = true
		e.SourcePorts = append(e.SourcePorts, f.Port)
		if g.Firewall.AckPorts != nil && !g.Firewall.AckPorts.Contains(f.Port) {
			e.OutsideAck++
		}
	}
	sort.Ints(e.SourcePorts)
	for _, f := range snap.DroppedFlows {
		if seen[Flow{Addr: f.Addr, Port: f.Port}] {
			e.DroppedFlows++
			e.DroppedPackets += f.Packets
		}
	}
	peers, err := srv.Peers(ctx, false)
	if err != nil {
		return e, err
	}
	for _, p := range peers {
		e.ServerPorts = append(e.ServerPorts, int(p.Port()))
	}
	sort.Ints(e.ServerPorts)
	return e, nil
}
