// Package driver is what the steps act on: the Kubernetes of one cell,
// whatever builds it. The sim driver (harness/sim) builds the data plane
// with the real components; a microk8s driver would drive the real snap.
// Steps (scenarios) import this package, never a driver or a provider.
package driver

import (
	"context"
	"net/netip"
	"time"

	"lab/harness/agent"
	"lab/harness/cni"
	"lab/harness/dns"
	"lab/harness/execx"
	"lab/harness/firewalld"
	"lab/harness/gateway"
	"lab/harness/kubeproxy"
	"lab/harness/probe"
	"lab/harness/profile"
)

// Pod is a pod of the cell as the steps see it.
type Pod struct {
	// Name is the pod's name; Node the node it runs on.
	Name, Node string
	// Addrs are its addresses, one per family of its node's pod network.
	Addrs []netip.Addr
	// Port is the port its server listens on (0: none).
	Port int
	// HostIface is the node side of its veth (Calico's cali*), if routed.
	HostIface string
}

// Addr returns the pod's address of the family (4 or 6).
func (p Pod) Addr(family int) (netip.Addr, bool) {
	for _, a := range p.Addrs {
		if (family == 4) == a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// Source is where a probe is sent from: a host or a pod.
type Source interface {
	// HTTP sends one GET and classifies the outcome.
	HTTP(ctx context.Context, url string, timeout time.Duration) probe.Result
	// ReadFile reads a file (a /proc/sys entry) as the source sees it.
	ReadFile(ctx context.Context, path string) (string, error)
	// UDP sends one datagram of size bytes to addr (host:port) and waits
	// for an answer; noFrag forbids fragmentation (a payload-size probe).
	UDP(ctx context.Context, addr string, size int, noFrag bool, timeout time.Duration) probe.Result
	// UDPFrom sends one datagram from source port srcPort to addr and
	// waits for an answer: datagrams from one port are one conntrack flow.
	UDPFrom(ctx context.Context, addr string, srcPort int, timeout time.Duration) probe.Result
	// UDPBatch sends n datagrams to addr, each from a fresh socket.
	UDPBatch(ctx context.Context, addr string, n, concurrency int, timeout time.Duration) (probe.Batch, error)
	// UDPBatchDecided is UDPBatch that ends early on the decisions it
	// receives while it runs (see probe.Decision).
	UDPBatchDecided(ctx context.Context, addr string, n, concurrency int, timeout time.Duration, decisions <-chan probe.Decision) (probe.Batch, error)
	// Lookup asks a DNS server (host:port) for a name's A or AAAA records.
	Lookup(ctx context.Context, server, name, qtype string, timeout time.Duration) dns.Result
	gateway.Client
}

// KubeProxy is a node's running kube-proxy.
type KubeProxy interface {
	// Pause holds the canary monitor; Resume lets it run and waits until
	// the rules are synced again, returning how long that took.
	Pause()
	Resume(ctx context.Context) (time.Duration, error)
	// Restores counts the syncs started; Syncs the finished ones and the
	// last error.
	Restores() int64
	Syncs() (int, error)
	// Release is the Kubernetes release of the kube-proxy that runs; Log
	// its klog output so far.
	Release() string
	Log() string
}

// InternetHost is a host beyond the provider gateway.
type InternetHost struct {
	Name    string
	Addr    netip.Addr
	Port    int
	Gateway *gateway.Gateway
	// Server records the peers of its connections.
	Server gateway.PeerServer
}

// Driver builds and drives one cell's cluster.
type Driver interface {
	// Profile is the cell's profile.
	Profile() *profile.Profile
	// AddNode boots a MicroK8s node whose pods are on the profile's bridge
	// (flannel) network; AddCalicoNode one whose pods are on Calico's
	// routed network from pools.
	AddNode(ctx context.Context, name string) error
	AddCalicoNode(ctx context.Context, name string, pools []netip.Prefix) error
	// AddClient boots a host on the public network.
	AddClient(ctx context.Context, name string) error
	// PublicAddr is a host's address on the public network.
	PublicAddr(host string) (netip.Addr, error)
	// IsNode reports whether name is a MicroK8s node.
	IsNode(name string) bool

	// AddHostPortPod creates a pod with hostPorts on a bridge node and
	// returns its IPv4 address.
	AddHostPortPod(ctx context.Context, pod, node string, ports []cni.PortMapping) (netip.Addr, error)
	// AddRoutedPod creates a pod on a Calico node serving HTTP on port (0:
	// nothing); AddIngressPod one running an ingress controller on every
	// container port of ports, publishing those with a HostPort through
	// the portmap plugin (HostPort 0: a container port only).
	AddRoutedPod(ctx context.Context, pod, node string, port int) (Pod, error)
	AddIngressPod(ctx context.Context, pod, node string, ports []cni.PortMapping, routes []agent.IngressRoute) (Pod, error)
	// AddDNSPod creates a pod running a DNS server on port 53 answering
	// for records (canonical name -> addresses).
	AddDNSPod(ctx context.Context, pod, node string, records map[string][]netip.Addr) (Pod, error)
	// ForwardResolver starts a node's stub resolver on 127.0.0.53:53
	// forwarding to upstream.
	ForwardResolver(ctx context.Context, node string, upstream netip.AddrPort) error
	// Pod returns a pod by name; PodsOf the routed pods of a node.
	Pod(name string) (Pod, bool)
	PodsOf(node string) ([]Pod, error)
	// PodCIDR is a Calico node's pod pool of the family.
	PodCIDR(node string, family int) (netip.Prefix, error)
	// IngressLogs are the ingress controllers' logs.
	IngressLogs(ctx context.Context) string

	// StopMicroK8s and StartMicroK8s do what the profile's release does.
	StopMicroK8s(ctx context.Context, node string) error
	StartMicroK8s(ctx context.Context, node string) error
	// StopMicroK8sWithoutSudo runs the profile's `microk8s stop` as a user
	// without sudo: the chains it flushes are flushed by an unprivileged
	// process, whose failure stop ignores (`|| true`, as the #4963 fix
	// does). It returns what the flushes printed.
	StopMicroK8sWithoutSudo(ctx context.Context, node string) (string, error)

	// Runner runs commands on a host with its environment (a MicroK8s
	// node's: the profile's iptables variant first in PATH).
	Runner(host string) (execx.Runner, error)
	// Source returns a host or pod to probe from.
	Source(name string) (Source, error)
	// PodRunner runs commands in a pod's network namespace, on its node
	// with the node's environment.
	PodRunner(pod string) (execx.Runner, error)

	// RunKubeProxy starts (or re-syncs) kube-proxy on a node.
	RunKubeProxy(ctx context.Context, node string, cfg kubeproxy.Config, svcs []kubeproxy.Service) error
	// KubeProxy returns a node's running kube-proxy.
	KubeProxy(node string) (KubeProxy, bool)
	// KubeProxyOnce runs kube-proxy on a node for one sync of cfg's family
	// (what its start does) and returns the outcome.
	KubeProxyOnce(ctx context.Context, node string, cfg kubeproxy.Config, svcs []kubeproxy.Service) (kubeproxy.Outcome, error)
	// Firewalld returns a node's running firewalld, if its profile runs one.
	Firewalld(node string) (*firewalld.Daemon, bool)
	// StopFirewalld and StartFirewalld stop and start a node's firewalld as
	// systemctl does.
	StopFirewalld(ctx context.Context, node string) error
	StartFirewalld(ctx context.Context, node string) error
	// TraceTCP traces a SYN from a pod to dst through its node's nftables.
	TraceTCP(ctx context.Context, fromPod string, src netip.Addr, dst netip.AddrPort) (agent.Trace, error)

	// AddGateway boots the hosting provider's router in front of nodes.
	AddGateway(ctx context.Context, name string, internet netip.Prefix, nodes []string) (*gateway.Gateway, error)
	// AddInternetHost boots a host serving HTTP behind the gateway.
	AddInternetHost(ctx context.Context, name, gw string, port int) (InternetHost, error)
	InternetHost(name string) (InternetHost, bool)
	// Masquerade writes the pod egress NAT rule on a node and returns the
	// nat table afterwards.
	Masquerade(ctx context.Context, node string, cidr netip.Prefix, opts []string) (string, error)

	// Conntrack lists a node's conntrack entries of connections sent to
	// dst, with each one's DNAT target and that target's neighbour state:
	// what the kernel did with a probe.
	Conntrack(ctx context.Context, node string, dst netip.AddrPort) ([]agent.Flow, error)

	// Facts reads, inside every host, what really runs there.
	Facts(ctx context.Context) map[string]agent.Facts
}
