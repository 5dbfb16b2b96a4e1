package gateway

import (
	"context"
	"fmt"
	"time"

	"lab/harness/probe"
)

// UDPClient sends UDP batches (a pod or a host, through its node's agent).
type UDPClient interface {
	// UDPBatchDecided sends n datagrams to addr, each from a fresh socket,
	// ending early on the decisions it receives (see probe.Decision).
	UDPBatchDecided(ctx context.Context, addr string, n, concurrency int, timeout time.Duration, decisions <-chan probe.Decision) (probe.Batch, error)
}

// UDPBatch runs the client's UDP batch to addr while reading the answers
// the gateway's firewall dropped (by node address and port after SNAT,
// each datagram's own flow): an answer the stateless firewall dropped is
// never repeated, so once every datagram was sent and exactly that many
// still wait, they end (outcome probe.Decided) instead of waiting out the
// timeout; otherwise (slow answers, or no UDP filter) the timeout ends them
// as before. The caller resets the gateway's sets first.
func UDPBatch(ctx context.Context, g *Gateway, src UDPClient, addr string, n, concurrency int, timeout time.Duration) (probe.Batch, error) {
	if g.Firewall.UDPPorts == nil {
		return src.UDPBatchDecided(ctx, addr, n, concurrency, timeout, nil)
	}
	return whileDeciding(ctx, func(ctx context.Context, since time.Duration) (probe.Decision, bool) {
		snap, err := g.Snapshot(ctx)
		if err != nil || len(snap.DroppedUDPFlows) == 0 {
			return probe.Decision{}, false
		}
		dropped := len(snap.DroppedUDPFlows)
		return probe.Decision{Unanswered: dropped, Reason: fmt.Sprintf(
			"decided by the gateway's drop record %s after the batch began: its firewall (%s) dropped the answers of %d of the batch's datagrams, exactly the ones still waiting; "+
				"a dropped UDP answer is not sent again, so they were ended instead of waiting out the %s timeout",
			since.Round(time.Millisecond), g.Firewall.Describe(), dropped, timeout)}, true
	}, func(ctx context.Context, decisions <-chan probe.Decision) (probe.Batch, error) {
		return src.UDPBatchDecided(ctx, addr, n, concurrency, timeout, decisions)
	})
}
