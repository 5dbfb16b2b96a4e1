package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"lab/harness/agent"
	"lab/harness/cni"
	"lab/harness/execx"
	"lab/harness/iptables"
	"lab/harness/kubeproxy"
)

// IngressProbeTimeout bounds a request to an ingress: longer than the
// ingress's own upstream timeout, so a 504 is seen as such.
const IngressProbeTimeout = 2 * time.Second

func init() {
	register(Def{Subject: "ingress", Pattern: `^an ingress pod "([^"]+)" on "([^"]+)" listening on port ([^ "]+) with routes "([^"]+)"$`,
		Params:  []Param{P("pod", Name), P("node", Name), P("port", Port), P("routes", Routes)},
		cell:    addIngress,
		Doc:     "Creates a pod on a Calico node running an ingress controller: a real reverse proxy (Go's httputil.ReverseProxy) whose sockets live in the pod, so its upstream connections are routed through the node like any pod's. Routes are a comma list of PATH=UPSTREAM (longest path prefix wins): `service:NAME` proxies to the Service's IPv4 ClusterIP and port, `pod:NAME` to the pod's IPv4 address and port (what ingress-nginx does with endpoints), or a literal IP:PORT. Like ingress-nginx it answers 502 when the upstream connect fails, 504 when it times out (after 500 ms). Records pod_ip_NAME.",
		Example: `Given an ingress pod "ingress" on "node1" listening on port 80 with routes "/setup=pod:zeus"`,
		bind:    func(w *World) any { return w.anIngress }})
	register(Def{Subject: "ingress", Pattern: `^an ingress pod "([^"]+)" on "([^"]+)" with hostPorts "([^"]+)" and routes "([^"]+)"$`,
		Params:  []Param{P("pod", Name), P("node", Name), P("hostPorts", HostPorts), P("routes", Routes)},
		cell:    addIngressHostPorts,
		Doc:     "Creates an ingress pod as `an ingress pod ... listening on port` does (the same controller and routes), published the way MicroK8s' ingress addon publishes its controller (DaemonSet nginx-ingress-microk8s-controller in canonical/microk8s-core-addons' addons/ingress/ingress.yaml: containerPorts 80 and 443 with hostPorts 80 and 443): the controller listens on every container port and the real portmap plugin is chained after the routed pod, as for `a pod ... serving HTTP with hostPorts`. Ports are a comma list of hostPort or hostPort:containerPort, TCP only. Simplification: the controller speaks plain HTTP on every port, 443 included (no TLS). Records pod_ip_NAME.",
		Example: `Given an ingress pod "ingress" on "node1" with hostPorts "80,443" and routes "/setup=pod:zeus"`,
		bind:    func(w *World) any { return w.anIngressHostPorts }})
	register(Def{Subject: "ingress", Pattern: `^a NodePort Service "([^"]+)" with IPs "([^"]+)" on port ([^ "]+) and node port ([^ "]+) for pods? "([^"]+)"$`,
		Params:  []Param{P("service", Name), P("ClusterIPs", IPList), P("port", Port), P("node port", Port), P("pods", NameList)},
		cell:    addService(4),
		Doc:     "Declares a Service as `a ClusterIP Service` does, of type NodePort: kube-proxy also DNATs the node port on every local address of a node to the pod (KUBE-NODEPORTS, KUBE-EXT-*, masqueraded).",
		Example: `Given a NodePort Service "np" with IPs "10.152.183.52" on port 80 and node port 30080 for pod "web"`,
		bind:    func(w *World) any { return w.aNodePortService }})
	register(Def{Subject: "ingress", Pattern: `^kube-proxy runs on "([^"]+)"$`,
		Params:    []Param{P("node", Name)},
		Doc:       "Starts the real kube-proxy in the node (Kubernetes' own iptables Proxier at the profile's microk8s.kubernetes release, built from harness/kubeproxy/k8s-vX.Y; its sync period 30 s, as MicroK8s leaves the default) for the IPv4 Services declared so far, fed Service and EndpointSlice objects from a file in the node (no API server). It writes its rules with the node's iptables (the profile's variant first in PATH, under the kernel profile), watches its canary chain KUBE-PROXY-CANARY and re-syncs when something flushed it, as the real daemon does. Its log and the nat table after the first sync are evidence.",
		Example:   `Given kube-proxy runs on "node1"`,
		kubeProxy: true,
		bind:      func(w *World) any { return w.kubeProxyRuns }})
	register(Def{Subject: "ingress", Pattern: `^"([^"]+)" requests path "([^"]+)" on port ([^ "]+) of the public address of "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("path", URLPath), P("port", Port), P("node", Name), P("observation", Name)},
		Doc:     "Sends one HTTP GET for the path from a host (or pod) to the port of the node's public address, with a 2 s timeout, and records NAME = the HTTP status the client got (e.g. an ingress's 502), or timeout / refused / unreachable / reset. The answer and the log of any ingress controller are evidence.",
		Example: `When "client" requests path "/setup" on port 80 of the public address of "node1" as "ingress_via_pod_ip"`,
		bind:    func(w *World) any { return w.requestPath }})
}

// upstream resolves one route target of an ingress.
func (w *World) upstream(target string) (netip.AddrPort, string, error) {
	kind, name, _ := strings.Cut(target, ":")
	switch kind {
	case "service":
		s, err := w.service(name)
		if err != nil {
			return netip.AddrPort{}, "", err
		}
		ip, ok := s.ip(4)
		if !ok {
			return netip.AddrPort{}, "", fmt.Errorf("service %q has no IPv4 ClusterIP", name)
		}
		return netip.AddrPortFrom(ip, uint16(s.port)), "Service " + name, nil
	case "pod":
		p, ok := w.D.Pod(name)
		if !ok {
			return netip.AddrPort{}, "", fmt.Errorf("no pod %q in this scenario", name)
		}
		a, ok := p.Addr(4)
		if !ok || p.Port == 0 {
			return netip.AddrPort{}, "", fmt.Errorf("pod %q has no IPv4 address or serves nothing", name)
		}
		return netip.AddrPortFrom(a, uint16(p.Port)), "pod " + name, nil
	}
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("upstream %q: want service:NAME, pod:NAME or IP:PORT", target)
	}
	return ap, target, nil
}

func (w *World) anIngress(ctx context.Context, pod, node, port, routes string) error {
	p, err := ParsePort(port)
	if err != nil {
		return fmt.Errorf("ingress %s: %w", pod, err)
	}
	return w.ingress(ctx, pod, node, []cni.PortMapping{{ContainerPort: p, Protocol: "tcp"}}, routes)
}

func (w *World) anIngressHostPorts(ctx context.Context, pod, node, hostPorts, routes string) error {
	pm, err := ParsePorts(hostPorts)
	if err != nil {
		return fmt.Errorf("ingress %s: %w", pod, err)
	}
	return w.ingress(ctx, pod, node, pm, routes)
}

// ingress creates an ingress pod listening on every container port of
// ports, those with a HostPort published through portmap.
func (w *World) ingress(ctx context.Context, pod, node string, ports []cni.PortMapping, routes string) error {
	routeList, err := ParseRoutes(routes)
	if err != nil {
		return fmt.Errorf("ingress %s: %w", pod, err)
	}
	var rs []agent.IngressRoute
	var ev strings.Builder
	for _, r := range routeList {
		up, via, err := w.upstream(r.Upstream)
		if err != nil {
			return fmt.Errorf("ingress %s: route %s: %w", pod, r.Path, err)
		}
		rs = append(rs, agent.IngressRoute{Path: r.Path, Upstream: up, Via: via})
		fmt.Fprintf(&ev, "%s -> http://%s (%s)\n", r.Path, up, via)
	}
	in, err := w.D.AddIngressPod(ctx, pod, node, ports, rs)
	if err != nil {
		return err
	}
	ip, _ := in.Addr(4)
	w.Observe("pod_ip_"+pod, ip.String())
	var listen, published []string
	for _, pm := range ports {
		listen = append(listen, fmt.Sprintf("%s:%d", ip, pm.ContainerPort))
		if pm.HostPort != 0 {
			published = append(published, fmt.Sprintf("hostPort %d -> %d", pm.HostPort, pm.ContainerPort))
		}
	}
	title := fmt.Sprintf("ingress %s routes (listening on %s", pod, strings.Join(listen, ", "))
	if len(published) > 0 {
		title += "; " + strings.Join(published, ", ") + " through portmap"
	}
	w.Evidence(title+")", ev.String())
	return nil
}

func (w *World) aNodePortService(name, ips, port, nodePort, pod string) error {
	np, err := ParsePort(nodePort)
	if err != nil {
		return fmt.Errorf("service %s: node port: %w", name, err)
	}
	if err := w.aService(name, ips, port, pod, "", ""); err != nil {
		return err
	}
	w.mu.Lock()
	w.nodePorts[name] = np
	w.mu.Unlock()
	return nil
}

// ipv4Services returns the declared Services as kube-proxy sees them for
// IPv4, endpoints resolved from their pods.
func (w *World) ipv4Services() []kubeproxy.Service {
	list := w.declared()
	var out []kubeproxy.Service
	for _, s := range list {
		ip, ok := s.ip(4)
		if !ok {
			continue
		}
		ks := s.kube(ip)
		w.mu.Lock()
		ks.NodePort = w.nodePorts[s.name]
		w.mu.Unlock()
		ks.Endpoints = w.endpoints(s, 4)
		out = append(out, ks)
	}
	return out
}

func (w *World) kubeProxyRuns(ctx context.Context, node string) error {
	cidr, err := w.D.PodCIDR(node, 4)
	if err != nil {
		return fmt.Errorf("%w; kube-proxy runs no IPv4 proxier there", err)
	}
	svcs := w.ipv4Services()
	cfg := kubeproxy.Config{ClusterCIDR: cidr}
	err = w.D.RunKubeProxy(ctx, node, cfg, svcs)
	if k, ok := w.D.KubeProxy(node); ok {
		w.Evidence("kube-proxy "+k.Release()+" on "+node+": log (klog) after its first sync", k.Log())
	}
	if err != nil {
		return err
	}
	w.mu.Lock()
	if !slices.Contains(w.proxyNodes, node) {
		w.proxyNodes = append(w.proxyNodes, node)
	}
	w.mu.Unlock()
	return w.proxyRulesEvidence(ctx, node, 4, "kube-proxy on "+node+": its rules after the sync")
}

// natEvidence attaches the node's nat table (profile's variant) as evidence.
func (w *World) natEvidence(ctx context.Context, node, name string) error {
	n, err := w.runner(node)
	if err != nil {
		return err
	}
	save := iptables.Binary("iptables-save", w.D.Profile().Iptables.Mode)
	dump, err := execx.Output(ctx, n, save, "-t", "nat")
	if err != nil {
		return err
	}
	w.RuleDump(name+" ("+save+" -t nat)", dump)
	return nil
}

func (w *World) requestPath(ctx context.Context, from, path, port, node, obs string) error {
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	pub, err := w.D.PublicAddr(node)
	if err != nil {
		return err
	}
	p, err := ParsePort(port)
	if err != nil {
		return err
	}
	if _, err := ParsePath(path); err != nil {
		return err
	}
	url := fmt.Sprintf("http://%s:%d%s", pub, p, path)
	res := src.HTTP(ctx, url, IngressProbeTimeout)
	w.Observe(obs, res.Outcome)
	ev := fmt.Sprintf("GET %s from %s: %s after %s: %s\n", url, from, res.Outcome, res.Elapsed.Round(time.Millisecond), strings.TrimSpace(res.Detail))
	w.Evidence(obs+": probe", ev+w.D.IngressLogs(ctx))
	return nil
}
