package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
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
	// BatchDecided is Batch that ends early on the decisions it receives
	// while it runs (see probe.Decision).
	BatchDecided(ctx context.Context, url string, n, concurrency int, timeout time.Duration, decisions <-chan probe.Decision) (probe.Batch, error)
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
	if e.Batch, err = batch(ctx, g, src, srv, fmt.Sprintf("http://%s/", dst), n, concurrency, timeout); err != nil {
		return e, err
	}
	snap, err := g.Snapshot(ctx)
	if err != nil {
		return e, err
	}
	for _, f := range snap.SynSources {
		e.SourcePorts = append(e.SourcePorts, f.Port)
		if g.Firewall.AckPorts != nil && !g.Firewall.AckPorts.Contains(f.Port) {
			e.OutsideAck++
		}
	}
	sort.Ints(e.SourcePorts)
	e.DroppedFlows, e.DroppedPackets = droppedOfBatch(snap)
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

// droppedOfBatch counts the dropped flows that are flows of the batch (by
// address and port after SNAT, so late retransmissions of earlier batches
// do not count) and their dropped packets.
func droppedOfBatch(snap Snapshot) (flows int, packets uint64) {
	seen := map[Flow]bool{}
	for _, f := range snap.SynSources {
		seen[Flow{Addr: f.Addr, Port: f.Port}] = true
	}
	for _, f := range snap.DroppedFlows {
		if seen[Flow{Addr: f.Addr, Port: f.Port}] {
			flows++
			packets += f.Packets
		}
	}
	return flows, packets
}

// decidePoll is how often a running batch's gateway and server are read
// (each read is an nft command in the gateway, competing with the batch
// for the CPU: it adds at most this much to a decided batch).
const decidePoll = 100 * time.Millisecond

// batch runs the client's batch while reading what the gateway dropped and
// what the server accepted: once the two account for every connection
// (accepted + dropped flows = n), the batch is told that exactly the
// dropped ones are still waiting, so it ends them instead of waiting out
// the timeout (a dropped SYN-ACK is dropped again on every retransmission:
// the stateless firewall judges the same port). When they do not account
// for every connection, the timeout ends the batch as before.
func batch(ctx context.Context, g *Gateway, src Client, srv PeerServer, url string, n, concurrency int, timeout time.Duration) (probe.Batch, error) {
	if g.Firewall.AckPorts == nil {
		return src.Batch(ctx, url, n, concurrency, timeout)
	}
	return whileDeciding(ctx, func(ctx context.Context, since time.Duration) (probe.Decision, bool) {
		snap, err := g.Snapshot(ctx)
		if err != nil {
			return probe.Decision{}, false
		}
		peers, err := srv.Peers(ctx, false)
		if err != nil {
			return probe.Decision{}, false
		}
		dropped, _ := droppedOfBatch(snap)
		if dropped == 0 || len(peers)+dropped != n {
			return probe.Decision{}, false
		}
		return probe.Decision{Unanswered: dropped, Reason: fmt.Sprintf(
			"decided by the gateway's drop record %s after the batch began: its firewall (%s) dropped inbound packets of %d of the batch's flows and the server accepted the other %d connections; "+
				"a SYN-ACK to a port outside the range is dropped on every retransmission, so those connections were ended instead of waiting out the %s timeout",
			since.Round(time.Millisecond), g.Firewall.Describe(), dropped, len(peers), timeout)}, true
	}, func(ctx context.Context, decisions <-chan probe.Decision) (probe.Batch, error) {
		return src.BatchDecided(ctx, url, n, concurrency, timeout, decisions)
	})
}

// whileDeciding runs a batch (run) while polling every decidePoll for a
// decision (poll, given the time since the batch began) and handing each
// one found to the batch.
func whileDeciding(ctx context.Context, poll func(context.Context, time.Duration) (probe.Decision, bool), run func(context.Context, <-chan probe.Decision) (probe.Batch, error)) (probe.Batch, error) {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	decisions := make(chan probe.Decision, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		t := time.NewTicker(decidePoll)
		defer t.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-t.C:
			}
			if d, ok := poll(bctx, time.Since(start)); ok {
				select {
				case decisions <- d:
				default:
				}
			}
		}
	}()
	b, err := run(bctx, decisions)
	cancel()
	wg.Wait()
	return b, err
}
