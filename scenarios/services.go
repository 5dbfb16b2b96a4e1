package scenarios

import (
	"context"
	"fmt"
	"lab/harness/probe"
	"net/netip"
	"strings"
	"time"

	"lab/harness/execx"
	"lab/harness/iptables"
	"lab/harness/kubeproxy"
)

func init() {
	register(Def{Subject: "services", Pattern: `^a ClusterIP Service "([^"]+)" with IPs "([^"]+)" on port ([^ "]+) for pods? "([^"]+)"( with protocol UDP)?( with sessionAffinity ClientIP)?$`,
		Params:  []Param{P("service", Name), P("ClusterIPs", IPList), P("port", Port), P("pods", NameList), Opt("protocol", Text), Opt("affinity", Text)},
		cell:    addService(3),
		Doc:     "Declares a Service in the default namespace: one ClusterIP per family (comma list, e.g. 10.152.183.10,fd98::10), the port, and the pod backing it, or `for pods \"a,b\"` several (pods serving HTTP on one port, on a Calico or a bridge node; their port is the targetPort; a DNS server pod's is 53; kube-proxy spreads new connections with `-m statistic --mode random`). With `with protocol UDP` the Service port is UDP (kube-proxy writes `-p udp` rules, and deletes the conntrack entries of a UDP endpoint that goes away); a pod serving HTTP answers UDP on its port too, a DNS server pod answers DNS. With `with sessionAffinity ClientIP`, kube-proxy writes `-m recent` rules. Nothing is programmed until kube-proxy syncs.",
		Example: `Given a ClusterIP Service "web" with IPs "10.152.183.10,fd98::10" on port 80 for pod "web"`,
		bind:    func(w *World) any { return w.aService }})
	register(Def{Subject: "services", Pattern: `^kube-proxy syncs the (ipv4|ipv6) Services on "([^"]+)" as "([^"]+)"$`,
		Params:    []Param{P("family", Family), P("node", Name), P("observation", Name)},
		Doc:       "Runs one sync of the real kube-proxy (Kubernetes' own iptables Proxier at the profile's microk8s.kubernetes release, `--once`) for one family in the node: all the Services of that family in one iptables-restore of the profile's variant (ip6tables-restore for IPv6), under the node's kernel profile; the cluster CIDR is the node's pod CIDR of the family. Records NAME = ok, or kube-proxy's own error with iptables' output (a failed line fails the whole restore: no Service of the family is programmed). Its restore input, log and the nat table afterwards are evidence.",
		Example:   `When kube-proxy syncs the ipv6 Services on "node1" as "kube_proxy_restore_v6"`,
		kubeProxy: true,
		bind:      func(w *World) any { return w.kubeProxySync }})
	register(Def{Subject: "services", Pattern: `^"([^"]+)" requests HTTP from Service "([^"]+)" over (ipv4|ipv6) as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("service", Name), P("family", Family), P("observation", Name)},
		cell:    toService(0, 1),
		Doc:     "Sends one HTTP GET from a pod (or a node or client) to the Service's ClusterIP of the family and port, with a 1 s timeout, and records NAME = the HTTP status, or timeout / refused / unreachable / reset. From a pod or a node, a connection that the node's conntrack shows untranslated (no Service rule DNATed its first packet; a ClusterIP is owned by no host) or DNATed to a dead address (neighbour INCOMPLETE 150 ms in, or FAILED), with no reply, is decided as a timeout on that positive signal without waiting the second out; so is a probe from a pod whose packets the node's FORWARD chain drops by its DROP policy (the policy's packet counter, of either iptables variant, grows during the probe); the evidence says so.",
		Example: `When "client" requests HTTP from Service "web" over ipv6 as "service_v6_http"`,
		bind:    func(w *World) any { return w.requestService }})
	register(Def{Subject: "services", Pattern: `^"([^"]+)" requests HTTP from pod "([^"]+)" over (ipv4|ipv6) as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("pod", Name), P("family", Family), P("observation", Name)},
		cell:    podToPod,
		Doc:     "Sends one HTTP GET from a pod (or a node or client) straight to another pod's address of the family, on the port it serves, with a 1 s timeout (on a Calico node the packets are routed through the node, across its FORWARD chains), and records NAME as for Service probes. When a FORWARD policy of the source pod's node (either iptables variant) is DROP and its packet counter grows while the probe has no answer, the probe is decided as a timeout on that positive signal without waiting the second out; the evidence says so.",
		Example: `When "client" requests HTTP from pod "web" over ipv4 as "pod_to_pod"`,
		bind:    func(w *World) any { return w.requestPod }})
}

// service is a declared Service.
type service struct {
	name     string
	ips      []netip.Addr
	port     int
	pods     []string
	affinity bool
	// udp: the Service port's protocol is UDP (else TCP).
	udp bool
}

// proto is the Service port's protocol as kube-proxy's objects name it.
func (s *service) proto() string {
	if s.udp {
		return "udp"
	}
	return "tcp"
}

// kube is the Service's port of one family as kube-proxy is fed it (no
// endpoints, no node port).
func (s *service) kube(ip netip.Addr) kubeproxy.Service {
	name := "http"
	if s.udp {
		name = "udp"
	}
	return kubeproxy.Service{Namespace: "default", Name: s.name, PortName: name, ClusterIP: ip, Port: s.port, Protocol: s.proto(), ClientIPAffinity: s.affinity}
}

// service returns a declared Service by name.
func (w *World) service(name string) (*service, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.services {
		if x.name == name {
			return x, nil
		}
	}
	return nil, fmt.Errorf("no Service %q in this scenario; declare it with `Given a ClusterIP Service %q with IPs \"...\" on port N for pod \"...\"`", name, name)
}

// declared returns the declared Services in order.
func (w *World) declared() []*service {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*service(nil), w.services...)
}

func (s *service) ip(fam int) (netip.Addr, bool) {
	for _, a := range s.ips {
		if (fam == 4) == a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func (w *World) aService(name, ips, port, pod, proto, affinity string) error {
	p, err := ParsePort(port)
	if err != nil {
		return fmt.Errorf("service %s: %w", name, err)
	}
	addrs, err := ParseIPList(ips)
	if err != nil {
		return fmt.Errorf("service %s: ClusterIPs: %w", name, err)
	}
	pods, err := w.backends(name, pod)
	if err != nil {
		return err
	}
	s := &service{name: name, port: p, pods: pods, affinity: affinity != "", udp: proto != "", ips: addrs}
	if _, err := w.service(name); err == nil {
		return fmt.Errorf("service %q declared twice", name)
	}
	w.mu.Lock()
	w.services = append(w.services, s)
	w.mu.Unlock()
	return nil
}

func (w *World) kubeProxySync(ctx context.Context, fam, node, obs string) error {
	f := family(fam)
	cidr, err := w.D.PodCIDR(node, f)
	if err != nil {
		return fmt.Errorf("%w; kube-proxy runs no %s proxier there", err, fam)
	}
	list := w.declared()
	var svcs []kubeproxy.Service
	for _, s := range list {
		ip, ok := s.ip(f)
		if !ok {
			continue
		}
		ks := s.kube(ip)
		ks.Endpoints = w.endpoints(s, f)
		svcs = append(svcs, ks)
	}
	cfg := kubeproxy.Config{ClusterCIDR: cidr}
	out, err := w.D.KubeProxyOnce(ctx, node, cfg, svcs)
	if err != nil {
		return err
	}
	w.Evidence(obs+": kube-proxy "+out.Version+" "+fam+" log (klog)", out.Log)
	if out.Restore != "" {
		input := "iptables-restore input"
		if w.D.Profile().KubeProxy.Mode == kubeproxy.ModeNFTables {
			input = "nft transaction"
		}
		w.Evidence(obs+": kube-proxy "+out.Version+" "+fam+" "+input, out.Restore)
	}
	if err := w.proxyRulesEvidence(ctx, node, f, obs+": kube-proxy's rules on "+node+" after the sync"); err != nil {
		w.Evidence(obs+": kube-proxy's rules on "+node+" after the sync", err.Error())
	}
	if out.Err != nil {
		w.Observe(obs, strings.TrimSpace(out.Err.Error()))
		return nil
	}
	w.Observe(obs, "ok")
	return nil
}

// proxyRulesEvidence attaches the rules kube-proxy programs for a family
// (4 or 6) as evidence: the nat table (the profile's iptables variant) in
// iptables mode; table ip (ip6) kube-proxy, listed by the node's nft, in
// nftables mode.
func (w *World) proxyRulesEvidence(ctx context.Context, node string, fam int, name string) error {
	n, err := w.runner(node)
	if err != nil {
		return err
	}
	argv := []string{iptables.Binary(map[int]string{4: "iptables-save", 6: "ip6tables-save"}[fam], w.D.Profile().Iptables.Mode), "-t", "nat"}
	if w.D.Profile().KubeProxy.Mode == kubeproxy.ModeNFTables {
		argv = []string{"nft", "list", "table", map[int]string{4: "ip", 6: "ip6"}[fam], "kube-proxy"}
	}
	dump, err := execx.Output(ctx, n, argv...)
	if err != nil {
		return err
	}
	w.RuleDump(name+" ("+strings.Join(argv, " ")+")", dump)
	return nil
}

// probeHTTP sends one GET from a pod, node or client to addr:port and
// records its outcome. With clusterIP (addr is a Service's ClusterIP) and a
// pod or node source, the node's conntrack may decide it early (see
// probeDecided).
func (w *World) probeHTTP(ctx context.Context, from, what string, addr netip.Addr, port int, clusterIP bool, obs string) error {
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	dst := netip.AddrPortFrom(addr, uint16(port))
	url := "http://" + dst.String() + "/"
	// the node whose conntrack sees the connection first: the source
	// pod's node, or the source node itself
	node := from
	if p, ok := w.D.Pod(from); ok {
		node = p.Node
	}
	var res probe.Result
	switch {
	case !w.D.IsNode(node):
		res = src.HTTP(ctx, url, ProbeTimeout)
	case clusterIP:
		res = w.probeDecided(ctx, src, url, w.conntrackSignal(node, dst, true), w.forwardDropSignal(ctx, from, node, addr))
	default:
		res = w.probeDecided(ctx, src, url, w.forwardDropSignal(ctx, from, node, addr))
	}
	w.Observe(obs, res.Outcome)
	w.Evidence(obs+": probe", fmt.Sprintf("GET %s (%s) from %s: %s after %s: %s\n", url, what, from, res.Outcome, res.Elapsed.Round(time.Millisecond), strings.TrimSpace(res.Detail)))
	return nil
}

// serviceIP returns a declared Service and its ClusterIP of the family
// (ipv4 or ipv6).
func (w *World) serviceIP(name, fam string) (*service, netip.Addr, error) {
	s, err := w.service(name)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	ip, ok := s.ip(family(fam))
	if !ok {
		return nil, netip.Addr{}, fmt.Errorf("service %q has no %s ClusterIP", name, fam)
	}
	return s, ip, nil
}

func (w *World) requestService(ctx context.Context, from, name, fam, obs string) error {
	s, ip, err := w.serviceIP(name, fam)
	if err != nil {
		return err
	}
	return w.probeHTTP(ctx, from, "Service "+name, ip, s.port, true, obs)
}

func (w *World) requestPod(ctx context.Context, from, pod, fam, obs string) error {
	p, ok := w.D.Pod(pod)
	if !ok {
		return fmt.Errorf("no pod %q in this scenario", pod)
	}
	if p.Port == 0 {
		return fmt.Errorf("pod %q serves nothing; create it with `serving HTTP on port N`", pod)
	}
	a, ok := p.Addr(family(fam))
	if !ok {
		return fmt.Errorf("pod %q has no %s address", pod, fam)
	}
	return w.probeHTTP(ctx, from, "pod "+pod, a, p.Port, false, obs)
}
