package agent

import (
	"context"
	"fmt"
	"time"

	"lab/harness/dns"
	"lab/harness/netns"
	"lab/harness/probe"
)

// stubTimeout bounds the stub resolver's wait for its upstream.
const stubTimeout = 2 * time.Second

func (a *Agent) keep(c interface{ Close() error }) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sockets = append(a.sockets, c)
}

func (a *Agent) dnsServe(ctx context.Context, d DNSServeArgs) (Empty, error) {
	path, err := a.podNS(d.Pod)
	if err != nil {
		return Empty{}, err
	}
	pc, err := netns.ListenPacket(path, "udp", fmt.Sprintf(":%d", d.Port))
	if err != nil {
		return Empty{}, fmt.Errorf("dns server in pod %s: %w", d.Pod, err)
	}
	a.keep(pc)
	go dns.Serve(pc, d.Records)
	return Empty{}, nil
}

func (a *Agent) dnsStub(ctx context.Context, d DNSStubArgs) (Empty, error) {
	pc, err := netns.ListenPacket("", "udp", d.Listen)
	if err != nil {
		return Empty{}, fmt.Errorf("stub resolver on %s: %w", d.Listen, err)
	}
	a.keep(pc)
	go dns.Forward(pc, d.Upstream, stubTimeout)
	return Empty{}, nil
}

func (a *Agent) dnsLookup(ctx context.Context, d DNSLookupArgs) (dns.Result, error) {
	path, err := a.podNS(d.From)
	if err != nil {
		return dns.Result{}, err
	}
	qtype := dns.TypeA
	if d.Type == "AAAA" {
		qtype = dns.TypeAAAA
	}
	return dns.Lookup(ctx, probe.Dialer(path, d.Timeout), d.Server, d.Name, qtype, d.Timeout), nil
}
