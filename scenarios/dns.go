package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// DNSTimeout bounds one lookup (the node's stub waits 2 s for its
// upstream, so a lookup through it sees the stub's SERVFAIL first).
const DNSTimeout = 3 * time.Second

// ClusterDomain is the DNS suffix of Service names.
const ClusterDomain = "svc.cluster.local"

// DNSPort is the port a DNS server pod answers on (UDP).
const DNSPort = 53

func init() {
	register(Def{Subject: "dns", Pattern: `^a DNS server in pod "([^"]+)" on "([^"]+)" answering for the Services$`,
		Params:  []Param{P("pod", Name), P("node", Name)},
		Doc:     "Creates a pod (routed on a Calico node, through CNI ADD on a bridge node) running a real DNS server on UDP port 53, as CoreDNS's kubernetes plugin answers: NAME.default.svc.cluster.local has the A and AAAA records of each Service declared before this step (its ClusterIPs); any other name is NXDOMAIN. Records pod_ip_POD.",
		Example: `Given a DNS server in pod "coredns" on "node1" answering for the Services`,
		cell:    addPod,
		bind:    func(w *World) any { return w.aDNSServer }})
	register(Def{Subject: "dns", Pattern: `^the resolver of "([^"]+)" forwards to pod "([^"]+)"$`,
		Params:  []Param{P("node", Name), P("pod", Name)},
		Doc:     "Starts the node's stub resolver on 127.0.0.53:53 (as systemd-resolved's), forwarding every query to the DNS pod's IPv4 address, port 53, from a fresh socket: the node's own lookups then cross its netfilter and the pod network (when the pod does not answer within 2 s the stub answers SERVFAIL).",
		Example: `Given the resolver of "node1" forwards to pod "coredns"`,
		cell:    needPod(1),
		bind:    func(w *World) any { return w.nodeResolver }})
	register(Def{Subject: "dns", Pattern: `^"([^"]+)" looks up (A|AAAA) "([^"]+)" via pod "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("type", Text), P("name", Name), P("pod", Name), P("observation", Name)},
		Doc:     "Sends one DNS query (UDP) from a pod (or a node or client) straight to a DNS pod's IPv4 address, port 53, with a 3 s timeout, and records NAME = the addresses answered (sorted comma list), or NXDOMAIN, SERVFAIL, timeout or refused. The exchange is evidence.",
		Example: `When "app" looks up A "web.default.svc.cluster.local" via pod "coredns" as "dns_from_pod"`,
		cell:    podToPod3,
		bind:    func(w *World) any { return w.lookupViaPod }})
	register(Def{Subject: "dns", Pattern: `^"([^"]+)" looks up (A|AAAA) "([^"]+)" via its resolver as "([^"]+)"$`,
		Params:  []Param{P("node", Name), P("type", Text), P("name", Name), P("observation", Name)},
		Doc:     "Sends one DNS query from a node to its own stub resolver (127.0.0.53:53, see `the resolver of ... forwards to pod`), with a 3 s timeout, and records NAME as a lookup via a pod does.",
		Example: `When "node1" looks up A "web.default.svc.cluster.local" via its resolver as "dns_from_node"`,
		bind:    func(w *World) any { return w.lookupViaResolver }})
	register(Def{Subject: "dns", Pattern: `^"([^"]+)" looks up (A|AAAA) "([^"]+)" via Service "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("type", Text), P("name", Name), P("service", Name), P("observation", Name)},
		Doc:     "Sends one DNS query (UDP) from a pod (or a node or client) to a Service's IPv4 ClusterIP and port, as pods reach CoreDNS through the kube-dns Service: the Service is declared `with protocol UDP` for the DNS server pod, and only kube-proxy's rules (`Given kube-proxy runs on ...`) lead the query to the pod. Records NAME as a lookup via a pod does (timeout when no rule translates the ClusterIP).",
		Example: `When "app" looks up A "web.default.svc.cluster.local" via Service "kube-dns" as "dns_via_service"`,
		cell:    toService(0, 3),
		bind:    func(w *World) any { return w.lookupViaService }})
}

func (w *World) lookupViaService(ctx context.Context, from, qtype, name, svc, obs string) error {
	s, ip, err := w.serviceIP(svc, "ipv4")
	if err != nil {
		return err
	}
	if !s.udp {
		return fmt.Errorf("service %q is TCP; DNS queries go over UDP: declare it `with protocol UDP`", svc)
	}
	return w.lookup(ctx, from, qtype, name, netip.AddrPortFrom(ip, uint16(s.port)).String(), "Service "+svc, obs)
}

// podToPod3 is the topology rule of steps sending from args[0] to pod args[3].
func podToPod3(s *cellState, args []string) string { return s.crossNode(args[0], args[3], "ipv4") }

func (w *World) aDNSServer(ctx context.Context, pod, node string) error {
	records := map[string][]netip.Addr{}
	var ev strings.Builder
	for _, s := range w.declared() {
		name := s.name + ".default." + ClusterDomain
		records[name] = append([]netip.Addr(nil), s.ips...)
		fmt.Fprintf(&ev, "%s -> %v\n", name, s.ips)
	}
	p, err := w.D.AddDNSPod(ctx, pod, node, records)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.dnsPods[pod] = true
	w.mu.Unlock()
	ip, _ := p.Addr(4)
	w.Observe("pod_ip_"+pod, ip.String())
	w.Evidence(fmt.Sprintf("DNS server in pod %s (%s:53): records", pod, ip), ev.String())
	return nil
}

// dnsPod returns a pod's IPv4 address and port 53.
func (w *World) dnsPod(pod string) (netip.AddrPort, error) {
	p, ok := w.D.Pod(pod)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no pod %q in this scenario; add `Given a DNS server in pod %q on \"NODE\" answering for the Services`", pod, pod)
	}
	a, ok := p.Addr(4)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("pod %q has no IPv4 address", pod)
	}
	return netip.AddrPortFrom(a, 53), nil
}

func (w *World) nodeResolver(ctx context.Context, node, pod string) error {
	up, err := w.dnsPod(pod)
	if err != nil {
		return err
	}
	return w.D.ForwardResolver(ctx, node, up)
}

func (w *World) lookup(ctx context.Context, from, qtype, name, server, via, obs string) error {
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	res := src.Lookup(ctx, server, name, qtype, DNSTimeout)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if res.Outcome == "error" {
		return fmt.Errorf("DNS lookup from %s via %s: %s", from, via, res.Detail)
	}
	w.Observe(obs, res.String())
	w.Evidence(obs+": DNS lookup", fmt.Sprintf("%s? %s from %s to %s (%s): %s %s\n", qtype, name, from, server, via, res.String(), res.Detail))
	return nil
}

func (w *World) lookupViaPod(ctx context.Context, from, qtype, name, pod, obs string) error {
	up, err := w.dnsPod(pod)
	if err != nil {
		return err
	}
	return w.lookup(ctx, from, qtype, name, up.String(), "pod "+pod, obs)
}

func (w *World) lookupViaResolver(ctx context.Context, node, qtype, name, obs string) error {
	if !w.D.IsNode(node) {
		return fmt.Errorf("%q is not a MicroK8s node; only nodes run a stub resolver", node)
	}
	return w.lookup(ctx, node, qtype, name, "127.0.0.53:53", "the resolver of "+node, obs)
}
