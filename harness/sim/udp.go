package sim

import (
	"context"
	"time"

	"lab/harness/agent"
	"lab/harness/probe"
)

// UDP sends one datagram of size bytes from the source to addr (host:port)
// and waits for an answer; noFrag forbids fragmentation.
func (s Source) UDP(ctx context.Context, addr string, size int, noFrag bool, timeout time.Duration) probe.Result {
	var r probe.Result
	if err := s.Host.Call(ctx, agent.OpUDP, agent.UDPArgs{From: s.Pod, Addr: addr, Size: size, NoFrag: noFrag, Timeout: timeout}, &r); err != nil {
		return probe.Result{Outcome: "error", Detail: err.Error()}
	}
	return r
}

// UDPFrom sends one 32-byte datagram from source port srcPort to addr and
// waits for an answer: datagrams from one port are one conntrack flow.
func (s Source) UDPFrom(ctx context.Context, addr string, srcPort int, timeout time.Duration) probe.Result {
	var r probe.Result
	if err := s.Host.Call(ctx, agent.OpUDP, agent.UDPArgs{From: s.Pod, Addr: addr, Size: 32, SrcPort: srcPort, Timeout: timeout}, &r); err != nil {
		return probe.Result{Outcome: "error", Detail: err.Error()}
	}
	return r
}

// UDPBatch sends n datagrams from the source to addr, each from a fresh
// socket, concurrency at a time.
func (s Source) UDPBatch(ctx context.Context, addr string, n, concurrency int, timeout time.Duration) (probe.Batch, error) {
	var b probe.Batch
	err := s.Host.Call(ctx, agent.OpUDPBatch, agent.UDPBatchArgs{From: s.Pod, Addr: addr, N: n, Concurrency: concurrency, Timeout: timeout}, &b)
	return b, err
}
