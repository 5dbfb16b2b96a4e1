package agent

import (
	"context"

	"lab/harness/probe"
)

// Every pod server also answers UDP on its port (server.go, echoUDP): these
// operations send to such servers, from a pod or the node.

func (a *Agent) udp(ctx context.Context, u UDPArgs) (probe.Result, error) {
	path, err := a.podNS(u.From)
	if err != nil {
		return probe.Result{}, err
	}
	if u.SrcPort != 0 {
		return probe.UDPFrom(ctx, path, u.Addr, u.SrcPort, u.Size, u.Timeout), nil
	}
	return probe.UDP(ctx, path, u.Addr, u.Size, u.NoFrag, u.Timeout), nil
}

func (a *Agent) udpBatch(ctx context.Context, b UDPBatchArgs) (probe.Batch, error) {
	path, err := a.podNS(b.From)
	if err != nil {
		return probe.Batch{}, err
	}
	ch, release, err := a.decisionsFor(b.Key)
	if err != nil {
		return probe.Batch{}, err
	}
	defer release()
	return probe.UDPBatchDecided(ctx, path, b.Addr, b.N, b.Concurrency, b.Timeout, ch), nil
}
