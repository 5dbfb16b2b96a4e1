package sim

import (
	"context"
	"fmt"
	"net/netip"

	"lab/harness/agent"
	"lab/harness/cni"
	"lab/harness/driver"
	"lab/harness/execx"
	"lab/harness/firewalld"
	"lab/harness/gateway"
	"lab/harness/kubeproxy"
	"lab/harness/profile"
)

// Driver is the sim driver as the steps see it (driver.Driver).
type Driver struct{ c *Cluster }

var _ driver.Driver = Driver{}

// Driver returns the cluster's driver.Driver.
func (c *Cluster) Driver() Driver { return Driver{c: c} }

// Profile is the cell's profile.
func (d Driver) Profile() *profile.Profile { return d.c.prof }

func (d Driver) node(name string) (*Node, error) {
	if n, ok := d.c.Node(name); ok {
		return n, nil
	}
	return nil, fmt.Errorf("no node %q in this scenario; add `Given a node %q` first", name, name)
}

func (d Driver) routed(name string) (*Node, *RoutedNet, error) {
	n, err := d.node(name)
	if err != nil {
		return nil, nil, err
	}
	r, ok := n.Routed()
	if !ok {
		return nil, nil, fmt.Errorf("node %q has no Calico pod network; boot it with `Given a Calico node %q with pod CIDRs \"...\"`", name, name)
	}
	return n, r, nil
}

// AddNode boots a bridge (flannel) MicroK8s node.
func (d Driver) AddNode(ctx context.Context, name string) error {
	n, err := d.c.AddNode(ctx, name)
	if err != nil {
		return err
	}
	return d.c.mesh(ctx, n)
}

// AddCalicoNode boots a MicroK8s node with Calico's routed pod network.
func (d Driver) AddCalicoNode(ctx context.Context, name string, pools []netip.Prefix) error {
	n, err := d.c.AddNode(ctx, name)
	if err != nil {
		return err
	}
	if _, err = n.EnableRouted(ctx, pools); err != nil {
		return err
	}
	return d.c.mesh(ctx, n)
}

// AddClient boots a client on the public network.
func (d Driver) AddClient(ctx context.Context, name string) error {
	_, err := d.c.AddClient(ctx, name)
	return err
}

// PublicAddr is a host's public address.
func (d Driver) PublicAddr(host string) (netip.Addr, error) {
	h, ok := d.c.Host(host)
	if !ok || !h.Public.IsValid() {
		return netip.Addr{}, fmt.Errorf("no host %q on the public network in this scenario", host)
	}
	return h.Public, nil
}

// IsNode reports whether name is a MicroK8s node.
func (d Driver) IsNode(name string) bool { _, ok := d.c.Node(name); return ok }

// AddHostPortPod creates a hostPort pod on a bridge node.
func (d Driver) AddHostPortPod(ctx context.Context, pod, node string, ports []cni.PortMapping) (netip.Addr, error) {
	n, err := d.node(node)
	if err != nil {
		return netip.Addr{}, err
	}
	if r, routed := n.Routed(); routed {
		return r.AddHostPortPod(ctx, pod, ports)
	}
	p, err := n.AddPod(ctx, pod, ports)
	if err != nil {
		return netip.Addr{}, err
	}
	return p.IP, nil
}

func view(p *RoutedPod) driver.Pod {
	return driver.Pod{Name: p.Name, Node: p.Node.Name(), Addrs: p.Addrs, Port: p.Port, HostIface: p.HostIface}
}

// AddRoutedPod creates a pod on a Calico node.
func (d Driver) AddRoutedPod(ctx context.Context, pod, node string, port int) (driver.Pod, error) {
	_, r, err := d.routed(node)
	if err != nil {
		return driver.Pod{}, err
	}
	p, err := r.AddPod(ctx, pod, port)
	if err != nil {
		return driver.Pod{}, err
	}
	return view(p), nil
}

// AddIngressPod creates an ingress controller pod on a Calico node.
func (d Driver) AddIngressPod(ctx context.Context, pod, node string, ports []cni.PortMapping, routes []agent.IngressRoute) (driver.Pod, error) {
	_, r, err := d.routed(node)
	if err != nil {
		return driver.Pod{}, err
	}
	p, err := r.AddIngressPod(ctx, pod, ports, routes)
	if err != nil {
		return driver.Pod{}, err
	}
	return view(p), nil
}

// Pod returns a pod by name: a routed pod, or a hostPort pod (its current
// sandbox's address).
func (d Driver) Pod(name string) (driver.Pod, bool) {
	if p, ok := d.c.RoutedPod(name); ok {
		return view(p), true
	}
	for _, n := range d.c.Hosts() {
		for _, p := range n.Pods() {
			if p.Name == name {
				port := 0
				if len(p.Ports) > 0 {
					port = p.Ports[0].ContainerPort
				}
				return driver.Pod{Name: p.Name, Node: n.Name(), Addrs: []netip.Addr{p.IP}, Port: port}, true
			}
		}
	}
	return driver.Pod{}, false
}

// PodsOf returns a Calico node's pods.
func (d Driver) PodsOf(node string) ([]driver.Pod, error) {
	_, r, err := d.routed(node)
	if err != nil {
		return nil, err
	}
	var out []driver.Pod
	for _, p := range r.Pods() {
		out = append(out, view(p))
	}
	return out, nil
}

// PodCIDR is a Calico node's pool of the family, or a bridge node's
// subnet (the profile's cni.subnet, IPv4 only).
func (d Driver) PodCIDR(node string, family int) (netip.Prefix, error) {
	n, err := d.node(node)
	if err != nil {
		return netip.Prefix{}, err
	}
	r, ok := n.Routed()
	if !ok {
		if n.podSubnet.IsValid() && family == 4 {
			return n.podSubnet, nil
		}
		return netip.Prefix{}, fmt.Errorf("node %q has no IPv%d pod CIDR", node, family)
	}
	p, ok := r.CIDR(family)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("node %q has no IPv%d pod CIDR", node, family)
	}
	return p, nil
}

// IngressLogs are the ingress controllers' logs.
func (d Driver) IngressLogs(ctx context.Context) string { return d.c.IngressLogs(ctx) }

// StopMicroK8s runs the profile's `microk8s stop`.
func (d Driver) StopMicroK8s(ctx context.Context, node string) error {
	n, err := d.node(node)
	if err != nil {
		return err
	}
	return n.StopMicroK8s(ctx)
}

// StopMicroK8sWithoutSudo runs the profile's `microk8s stop` as a user
// without sudo.
func (d Driver) StopMicroK8sWithoutSudo(ctx context.Context, node string) (string, error) {
	n, err := d.node(node)
	if err != nil {
		return "", err
	}
	return n.StopMicroK8sWithoutSudo(ctx)
}

// StartMicroK8s runs the profile's `microk8s start`.
func (d Driver) StartMicroK8s(ctx context.Context, node string) error {
	n, err := d.node(node)
	if err != nil {
		return err
	}
	return n.StartMicroK8s(ctx)
}

// Runner runs commands on any host with its environment.
func (d Driver) Runner(host string) (execx.Runner, error) {
	if h, ok := d.c.Host(host); ok {
		return h, nil
	}
	return nil, fmt.Errorf("no host %q in this scenario; add a node or client named %q first", host, host)
}

// Source returns a host or pod to probe from.
func (d Driver) Source(name string) (driver.Source, error) {
	s, err := d.c.Source(name)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// RunKubeProxy starts or re-syncs kube-proxy on a node.
func (d Driver) RunKubeProxy(ctx context.Context, node string, cfg kubeproxy.Config, svcs []kubeproxy.Service) error {
	n, err := d.node(node)
	if err != nil {
		return err
	}
	_, err = n.RunKubeProxy(ctx, cfg, svcs)
	return err
}

// KubeProxyOnce runs kube-proxy on a node for one sync.
func (d Driver) KubeProxyOnce(ctx context.Context, node string, cfg kubeproxy.Config, svcs []kubeproxy.Service) (kubeproxy.Outcome, error) {
	n, err := d.node(node)
	if err != nil {
		return kubeproxy.Outcome{}, err
	}
	return n.KubeProxyOnce(ctx, cfg, svcs)
}

// KubeProxy returns a node's kube-proxy.
func (d Driver) KubeProxy(node string) (driver.KubeProxy, bool) {
	n, ok := d.c.Node(node)
	if !ok {
		return nil, false
	}
	k, ok := n.KubeProxy()
	if !ok {
		return nil, false
	}
	return k, true
}

// Firewalld returns a node's firewalld.
func (d Driver) Firewalld(node string) (*firewalld.Daemon, bool) {
	n, ok := d.c.Node(node)
	if !ok {
		return nil, false
	}
	return n.Firewalld()
}

// TraceTCP traces a SYN from a routed pod through its node's nftables.
func (d Driver) TraceTCP(ctx context.Context, fromPod string, src netip.Addr, dst netip.AddrPort) (agent.Trace, error) {
	p, ok := d.c.RoutedPod(fromPod)
	if !ok {
		return agent.Trace{}, fmt.Errorf("no pod %q on a Calico node in this scenario", fromPod)
	}
	return p.Node.TraceTCP(ctx, p, src, dst)
}

// AddGateway boots the provider gateway in front of nodes.
func (d Driver) AddGateway(ctx context.Context, name string, internet netip.Prefix, nodes []string) (*gateway.Gateway, error) {
	var ns []*Node
	for _, f := range nodes {
		n, err := d.node(f)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	g, err := d.c.AddGateway(ctx, name, internet, ns)
	if err != nil {
		return nil, err
	}
	return g.Gateway, nil
}

func hostView(h *InternetHost) driver.InternetHost {
	return driver.InternetHost{Name: h.Name(), Addr: h.Addr, Port: h.Port, Gateway: h.Gateway.Gateway, Server: h}
}

// AddInternetHost boots an internet host behind the gateway.
func (d Driver) AddInternetHost(ctx context.Context, name, gw string, port int) (driver.InternetHost, error) {
	h, err := d.c.AddInternetHost(ctx, name, gw, port)
	if err != nil {
		return driver.InternetHost{}, err
	}
	return hostView(h), nil
}

// InternetHost returns an internet host by name.
func (d Driver) InternetHost(name string) (driver.InternetHost, bool) {
	h, ok := d.c.InternetHost(name)
	if !ok {
		return driver.InternetHost{}, false
	}
	return hostView(h), true
}

// Masquerade writes the pod egress NAT rule on a node.
func (d Driver) Masquerade(ctx context.Context, node string, cidr netip.Prefix, opts []string) (string, error) {
	n, err := d.node(node)
	if err != nil {
		return "", err
	}
	return n.MasqueradePodEgress(ctx, cidr, opts)
}

// Facts reads what really runs in every host.
func (d Driver) Facts(ctx context.Context) map[string]agent.Facts { return d.c.Facts(ctx) }

// Conntrack lists a node's conntrack entries of connections to dst.
func (d Driver) Conntrack(ctx context.Context, node string, dst netip.AddrPort) ([]agent.Flow, error) {
	n, err := d.node(node)
	if err != nil {
		return nil, err
	}
	var out []agent.Flow
	err = n.Call(ctx, agent.OpConntrack, agent.ConntrackArgs{Dst: dst}, &out)
	return out, err
}
