package agent

import (
	"encoding/json"
	"net/netip"
	"time"

	"lab/harness/cni"
	"lab/harness/probe"
)

// Operation names.
const (
	OpShim       = "shim"
	OpSysctl     = "sysctl"
	OpReadFile   = "read_file"
	OpRoutedPod  = "routed_pod"
	OpCNIAdd     = "cni_add"
	OpCNIDel     = "cni_del"
	OpPodDelete  = "pod_delete"
	OpServe      = "serve"
	OpUnserve    = "unserve"
	OpIngress    = "ingress"
	OpIngressLog = "ingress_log"
	OpHTTP       = "http"
	OpDial       = "dial"
	OpBatch      = "batch"
	OpDecide     = "decide"
	OpPeerServe  = "peer_serve"
	OpPeers      = "peers"
	OpTrace      = "trace"
	OpFacts      = "facts"
	OpConntrack  = "conntrack"
	OpUDP        = "udp"
	OpUDPBatch   = "udp_batch"
	OpPortmap    = "portmap"
	OpDNSServe   = "dns_serve"
	OpDNSStub    = "dns_stub"
	OpDNSLookup  = "dns_lookup"
)

// Paths inside every node where the lab pushes its files.
const (
	// Dir holds everything the lab pushes into a node.
	Dir = "/run/lab"
	// Binary is the agent (the lab binary itself).
	Binary = Dir + "/agent"
	// PluginDir holds the CNI plugins.
	PluginDir = Dir + "/cni"
	// ShimDir holds the iptables variant shim, first in PATH.
	ShimDir = Dir + "/bin"
	// HidextLib is the kernel-profile library.
	HidextLib = Dir + "/libhidext.so"
)

// ShimArgs asks for the iptables shim of a variant (legacy or nft).
type ShimArgs struct {
	Dir  string `json:"dir"`
	Mode string `json:"mode"`
}

// SysctlArgs sets sysctls (keys as paths under /proc/sys, e.g.
// net/ipv4/ip_forward) in a pod's namespace, or the node's when Pod is "".
type SysctlArgs struct {
	Pod string            `json:"pod,omitempty"`
	Set map[string]string `json:"set"`
}

// ReadFileArgs reads a file (e.g. a /proc/sys entry) as seen from a pod's
// namespace, or the node's.
type ReadFileArgs struct {
	Pod  string `json:"pod,omitempty"`
	Path string `json:"path"`
}

// RoutedPodArgs creates a pod wired as Calico's CNI plugin wires it.
type RoutedPodArgs struct {
	Pod       string       `json:"pod"`
	HostIface string       `json:"host_iface"`
	Addrs     []netip.Addr `json:"addrs"`
	// MTU of both ends of the veth (0: the kernel's default).
	MTU int `json:"mtu,omitempty"`
}

// CNIAddArgs creates a pod sandbox and attaches it with CNI ADD.
type CNIAddArgs struct {
	Pod         string            `json:"pod"`
	ContainerID string            `json:"container_id"`
	Conflist    json.RawMessage   `json:"conflist"`
	CacheDir    string            `json:"cache_dir"`
	Ports       []cni.PortMapping `json:"ports,omitempty"`
}

// CNIDelArgs runs CNI DEL for a pod sandbox (as a runtime does when it
// removes a sandbox properly; `microk8s stop` on 1.32.2 does not).
type CNIDelArgs = CNIAddArgs

// CNIAddResult is the pod's IPv4 address from the CNI result.
type CNIAddResult struct {
	IP netip.Addr `json:"ip"`
}

// PodArgs names a pod (its namespace in the node).
type PodArgs struct {
	Pod string `json:"pod"`
}

// ServeArgs starts HTTP servers in a pod on each port, answering with a
// line naming Ident.
type ServeArgs struct {
	Pod   string `json:"pod"`
	Ports []int  `json:"ports"`
	Ident string `json:"ident"`
}

// IngressArgs starts an ingress controller in a pod.
type IngressArgs struct {
	Pod string `json:"pod"`
	// Ports are the container ports the controller listens on (plain
	// HTTP on each).
	Ports  []int          `json:"ports"`
	Routes []IngressRoute `json:"routes"`
}

// HTTPArgs sends one GET from a pod (or the node when From is "").
type HTTPArgs struct {
	From    string        `json:"from,omitempty"`
	URL     string        `json:"url"`
	Timeout time.Duration `json:"timeout"`
}

// DialArgs opens one TCP connection and closes it.
type DialArgs struct {
	From    string        `json:"from,omitempty"`
	Addr    string        `json:"addr"`
	Timeout time.Duration `json:"timeout"`
}

// DialResult is what the sender saw: connected or a probe outcome.
type DialResult struct {
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// BatchArgs sends N GETs on fresh connections, Concurrency at a time.
// With a Key, the batch also takes decisions sent with OpDecide under that
// key while it runs (see probe.Decision).
type BatchArgs struct {
	From        string        `json:"from,omitempty"`
	URL         string        `json:"url"`
	N           int           `json:"n"`
	Concurrency int           `json:"concurrency"`
	Timeout     time.Duration `json:"timeout"`
	Key         string        `json:"key,omitempty"`
}

// DecideArgs hands a running batch (by its BatchArgs.Key) a decision.
type DecideArgs struct {
	Key      string         `json:"key"`
	Decision probe.Decision `json:"decision"`
}

// UDPArgs sends one datagram of Size bytes from a pod (or the node when
// From is "") to Addr (host:port) and waits for an answer; NoFrag forbids
// fragmentation (DF).
type UDPArgs struct {
	From    string        `json:"from,omitempty"`
	Addr    string        `json:"addr"`
	Size    int           `json:"size"`
	NoFrag  bool          `json:"no_frag,omitempty"`
	Timeout time.Duration `json:"timeout"`
	// SrcPort, when set, is the source port the datagram is sent from.
	SrcPort int `json:"src_port,omitempty"`
}

// UDPBatchArgs sends N datagrams, each from a fresh socket, Concurrency
// at a time; with a Key, it takes decisions as BatchArgs does.
type UDPBatchArgs struct {
	From        string        `json:"from,omitempty"`
	Addr        string        `json:"addr"`
	N           int           `json:"n"`
	Concurrency int           `json:"concurrency"`
	Key         string        `json:"key,omitempty"`
	Timeout     time.Duration `json:"timeout"`
}

// DNSServeArgs runs a DNS server in a pod on Port (UDP) answering for
// Records (canonical name -> addresses).
type DNSServeArgs struct {
	Pod     string                  `json:"pod"`
	Port    int                     `json:"port"`
	Records map[string][]netip.Addr `json:"records"`
}

// DNSStubArgs runs a stub resolver in the node on Listen (e.g.
// 127.0.0.53:53) forwarding to Upstream (host:port).
type DNSStubArgs struct {
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
}

// DNSLookupArgs asks Server (host:port) for Name's addresses of Type (A or
// AAAA) from a pod (or the node when From is "").
type DNSLookupArgs struct {
	From    string        `json:"from,omitempty"`
	Server  string        `json:"server"`
	Name    string        `json:"name"`
	Type    string        `json:"type"`
	Timeout time.Duration `json:"timeout"`
}

// PeerServeArgs runs an HTTP server in the node that records the peer of
// every connection it accepts.
type PeerServeArgs struct {
	Port  int    `json:"port"`
	Ident string `json:"ident"`
}

// PeersArgs reads (and with Reset, forgets) the recorded peers.
type PeersArgs struct {
	Reset bool `json:"reset,omitempty"`
}

// TraceArgs traces one TCP SYN from a pod through the node's nft ruleset.
type TraceArgs struct {
	From string         `json:"from"`
	Src  netip.Addr     `json:"src"`
	Dst  netip.AddrPort `json:"dst"`
}

// Facts are what really runs in the node, read inside it: kernel release,
// iptables (both variants), nft, firewalld, iproute2, the OS, the CNI
// plugins' version. A key is missing when the program is not installed.
type Facts map[string]string

// Empty is the result of operations that return nothing.
type Empty struct{}

// so probe's types are part of the protocol's vocabulary
var _ = probe.Result{}
