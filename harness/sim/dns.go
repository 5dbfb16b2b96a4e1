package sim

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"lab/harness/agent"
	"lab/harness/dns"
	"lab/harness/driver"
)

// DNSPort is the port cluster DNS servers answer on.
const DNSPort = 53

// NodeResolver is where a node's stub resolver listens, as
// systemd-resolved's does.
const NodeResolver = "127.0.0.53:53"

// AddDNSPod creates a pod (routed on a Calico node, CNI ADD on a bridge
// node) running a DNS server on port 53 answering for records.
func (d Driver) AddDNSPod(ctx context.Context, pod, node string, records map[string][]netip.Addr) (driver.Pod, error) {
	n, err := d.node(node)
	if err != nil {
		return driver.Pod{}, err
	}
	var out driver.Pod
	var ns string
	if r, ok := n.Routed(); ok {
		p, err := r.AddPod(ctx, pod, 0)
		if err != nil {
			return driver.Pod{}, err
		}
		out, ns = view(p), p.NS
	} else {
		p, err := n.AddPod(ctx, pod, nil)
		if err != nil {
			return driver.Pod{}, err
		}
		out, ns = driver.Pod{Name: pod, Node: node, Addrs: []netip.Addr{p.IP}}, p.ns
	}
	if err := n.Call(ctx, agent.OpDNSServe, agent.DNSServeArgs{Pod: ns, Port: DNSPort, Records: records}, nil); err != nil {
		return driver.Pod{}, fmt.Errorf("pod %s on %s: %w", pod, node, err)
	}
	return out, nil
}

// ForwardResolver starts a node's stub resolver on 127.0.0.53:53,
// forwarding every query to upstream.
func (d Driver) ForwardResolver(ctx context.Context, node string, upstream netip.AddrPort) error {
	n, err := d.node(node)
	if err != nil {
		return err
	}
	return n.Call(ctx, agent.OpDNSStub, agent.DNSStubArgs{Listen: NodeResolver, Upstream: upstream.String()}, nil)
}

// Lookup asks a DNS server (host:port) for a name's addresses of qtype (A
// or AAAA) from the source.
func (s Source) Lookup(ctx context.Context, server, name, qtype string, timeout time.Duration) dns.Result {
	var r dns.Result
	if err := s.Host.Call(ctx, agent.OpDNSLookup, agent.DNSLookupArgs{From: s.Pod, Server: server, Name: name, Type: qtype, Timeout: timeout}, &r); err != nil {
		return dns.Result{Outcome: "error", Detail: err.Error()}
	}
	return r
}
