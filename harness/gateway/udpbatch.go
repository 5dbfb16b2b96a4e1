package gateway

import (
	"context"
	"fmt"
	"sync"
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
			snap, err := g.Snapshot(bctx)
			if err != nil || len(snap.DroppedUDPFlows) == 0 {
				continue
			}
			dropped := len(snap.DroppedUDPFlows)
			d := probe.Decision{Unanswered: dropped, Reason: fmt.Sprintf(
				"decided by the gateway's drop record %s after the batch began: its firewall (%s) dropped the answers of %d of the batch's datagrams, exactly the ones still waiting; "+
					"a dropped UDP answer is not sent again, so they were ended instead of waiting out the %s timeout",
				time.Since(start).Round(time.Millisecond), g.Firewall.Describe(), dropped, timeout)}
			select {
			case decisions <- d:
			default:
			}
		}
	}()
	b, err := src.UDPBatchDecided(bctx, addr, n, concurrency, timeout, decisions)
	cancel()
	wg.Wait()
	return b, err
}
