// Package sim is the simulation driver: it builds the data plane a MicroK8s
// node would have with the real components that matter (real CNI plugins
// via libcni, real iptables binaries of the profile's variant, real
// firewalld, real listeners in pod namespaces) and replays what `microk8s
// stop` / `start` do per profile. It works through the provider's nodes and
// the lab agent in each node only: it never switches namespaces itself.
package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"lab/harness/agent"
	"lab/harness/cni"
	"lab/harness/execx"
	"lab/harness/kernel"
	"lab/harness/node"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/harness/timing"
)

// PublicNet is the network nodes and outside clients share (TEST-NET-2,
// never routed anywhere: it exists only inside the cell's nodes).
var PublicNet = netip.MustParsePrefix("198.51.100.0/24")

// Options locate what the driver pushes into nodes.
type Options struct {
	// StateDir holds per-cell state on the host (node environment files,
	// agent logs).
	StateDir string
	// PluginDir holds the built CNI plugins, one directory per version
	// (VERSION/NAME); the profile's version is pushed into MicroK8s nodes.
	PluginDir string
	// KubeProxyDir holds the built kube-proxy binaries
	// (VERSION/kube-proxy); the profile's Kubernetes release runs in nodes.
	KubeProxyDir string
	// HidextLib is the kernel-profile library; pushed only when the
	// profile hides extensions.
	HidextLib string
	// AgentExe is the lab executable pushed into nodes as the agent
	// (default: this process's executable).
	AgentExe string
	// Timings, when set, records every boot, command and agent call of
	// the cell (see package timing).
	Timings *timing.Recorder
}

// Cluster is the simulated cluster of one cell.
type Cluster struct {
	env  provider.Env
	prof *profile.Profile
	opts Options

	mu      sync.Mutex
	nodes   map[string]*Node // every host: MicroK8s nodes, clients, gateways
	nextIP  int
	closers []func()

	routed  routedNets
	proxies map[string]*KubeProxy
	fwd     map[string]*firewalldOf
	ingress map[string]string // ingress pod -> node
	egress  egress
	// bridgeNodes counts the nodes given a bridge subnet so far.
	bridgeNodes int
}

// OnClose registers a teardown function (stop a daemon, a goroutine) run by
// Close in reverse order, before the agents stop and the provider removes
// the nodes. Register it before checking the error of what it undoes.
func (c *Cluster) OnClose(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closers = append(c.closers, f)
}

// New returns an empty cluster for one cell.
func New(env provider.Env, prof *profile.Profile, opts Options) *Cluster {
	if opts.AgentExe == "" {
		opts.AgentExe, _ = os.Executable()
	}
	return &Cluster{env: env, prof: prof, opts: opts, nodes: map[string]*Node{}, nextIP: 10,
		routed: routedNets{nets: map[string]*RoutedNet{}}, proxies: map[string]*KubeProxy{},
		fwd: map[string]*firewalldOf{}, ingress: map[string]string{},
		egress: egress{gateways: map[string]*Gateway{}, hosts: map[string]*InternetHost{}, masq: map[string][][]string{}}}
}

// Profile returns the cluster's profile.
func (c *Cluster) Profile() *profile.Profile { return c.prof }

// StateDir returns the cell's state directory on the host.
func (c *Cluster) StateDir() string { return c.opts.StateDir }

func (c *Cluster) publicAddr() netip.Prefix {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := PublicNet.Addr().As4()
	a[3] = byte(c.nextIP)
	c.nextIP++
	return netip.PrefixFrom(netip.AddrFrom4(a), PublicNet.Bits())
}

// Role says what a host of the cell is.
type Role string

// Roles of a cell's hosts.
const (
	RoleNode     Role = "node"     // a MicroK8s node with the profile's environment
	RoleClient   Role = "client"   // a host on the public network
	RoleGateway  Role = "gateway"  // the hosting provider's router
	RoleInternet Role = "internet" // a host beyond the gateway
)

// Node is one host of the cell: a provider node with the lab agent
// running in it. MicroK8s nodes (RoleNode) run every command with the
// profile's environment: its iptables variant first in PATH and, for a
// kernel profile, the library hiding its missing extensions.
type Node struct {
	node.Node
	cluster *Cluster
	// Role is what the host is.
	Role Role
	// Public is the node's address on the public network (zero for
	// internet hosts).
	Public netip.Addr
	// Agent is the agent running in the node.
	Agent *agent.Conn
	// Env is added to the environment of every command run on the node.
	Env []string

	// podSubnet is a bridge node's pod subnet (see bridgeSubnet);
	// vxlanMAC the MAC of its flannel.1 device (vxlan backend).
	podSubnet netip.Prefix
	vxlanMAC  string

	mu            sync.Mutex
	pods          []*Pod
	running       bool
	conflist      []byte
	pushMu        sync.Mutex
	pluginsPushed bool
	// kubeProxyPushed: the binary is in the node; kubeProxyFact says which.
	kubeProxyPushed bool
	kubeProxyFact   string
	// kubeliteForward is what failed of MicroK8s' own FORWARD rules
	// (kubelite.go), "" when they went in.
	kubeliteForward string
}

// BaseEnv is the environment every command on a node starts from.
var BaseEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}

// nodeEnv is the environment of a MicroK8s node's processes.
func (c *Cluster) nodeEnv() ([]string, error) {
	env := append([]string(nil), BaseEnv...)
	env[0] = "PATH=" + agent.ShimDir + ":" + strings.TrimPrefix(env[0], "PATH=")
	if h := c.libraryHidden(); len(h) > 0 {
		if c.opts.HidextLib == "" {
			return nil, fmt.Errorf("profile %s hides kernel extensions but the kernel-profile library is not built; run `make build`", c.prof.Name)
		}
		env = append(env, kernel.Env(agent.HidextLib, h)...)
	}
	return env, nil
}

// libraryHidden are the profile's missing extensions the kernel-profile
// library hides: all of them, unless the provider's nodes run a kernel of
// their own that lacks some (provider.KernelHider).
func (c *Cluster) libraryHidden() []kernel.Hidden {
	if kh, ok := c.env.(provider.KernelHider); ok {
		_, lib := kh.KernelHides()
		return lib
	}
	return c.prof.Kernel.Hidden()
}

// boot boots a host, pushes the agent (and for a MicroK8s node the CNI
// plugins and the kernel-profile library) and starts it.
func (c *Cluster) boot(ctx context.Context, name string, role Role) (*Node, error) {
	c.mu.Lock()
	_, dup := c.nodes[name]
	c.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("host %q already exists in this cell", name)
	}
	booted := time.Now()
	pn, err := c.env.AddNode(ctx, name)
	c.opts.Timings.Add(timing.Boot, "provider add node", name, booted)
	if err != nil {
		return nil, err
	}
	n := &Node{Node: pn, cluster: c, Role: role, Env: append([]string(nil), BaseEnv...)}
	c.mu.Lock()
	c.nodes[name] = n
	c.mu.Unlock()
	if role == RoleNode {
		if n.Env, err = c.nodeEnv(); err != nil {
			return nil, err
		}
		if len(c.libraryHidden()) > 0 {
			if err := n.CopyIn(ctx, c.opts.HidextLib, agent.HidextLib, 0o644); err != nil {
				return nil, err
			}
		}
	}
	pushed := time.Now()
	if err := agent.Push(ctx, n, c.opts.AgentExe); err != nil {
		return nil, err
	}
	c.opts.Timings.Add(timing.Boot, "agent push", name, pushed)
	dir := filepath.Join(c.opts.StateDir, "nodes", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return nil, err
	}
	started := time.Now()
	conn, err := agent.Start(ctx, n, n.Env, logf)
	c.opts.Timings.Add(timing.Boot, "agent start", name, started)
	c.OnClose(func() { _ = conn.Stop(); logf.Close() })
	if err != nil {
		return nil, err
	}
	n.Agent = conn
	return n, nil
}

// pushPlugins copies the CNI plugins into a MicroK8s node, once, before
// its first CNI ADD (Calico-style nodes never need them).
func (n *Node) pushPlugins(ctx context.Context) error {
	n.pushMu.Lock()
	defer n.pushMu.Unlock()
	if n.pluginsPushed {
		return nil
	}
	c := n.cluster
	dir, err := cni.VersionDir(c.opts.PluginDir, c.prof.CNI.PluginsVersion)
	if err != nil {
		return fmt.Errorf("profile %s: %w", c.prof.Name, err)
	}
	names := make([]string, 0, len(cni.Plugins))
	for p := range cni.Plugins {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if err := n.CopyIn(ctx, filepath.Join(dir, p), filepath.Join(agent.PluginDir, p), 0o755); err != nil {
			return err
		}
	}
	n.pluginsPushed = true
	return nil
}

// Run runs a command on the node with the node's environment. Once the
// node's agent runs, the agent runs it as its own child (agent.OpExec):
// no nsenter or docker exec per command. Before (boot), the provider
// runs it. Both return the same Result and *execx.Error.
func (n *Node) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	if c.Env == nil {
		c.Env = n.Env
	}
	start := time.Now()
	defer n.cluster.opts.Timings.Add(timing.Exec, execName(c.Argv), n.Name(), start)
	if n.Agent == nil {
		return n.Node.Run(ctx, c)
	}
	return agentRun(ctx, n.Agent, n.Name(), c)
}

// Call calls the node's agent.
func (n *Node) Call(ctx context.Context, op string, args, result any) error {
	if n.Agent == nil {
		return fmt.Errorf("%s: no agent running (the node did not finish booting)", n.Name())
	}
	start := time.Now()
	defer n.cluster.opts.Timings.Add(timing.Call, op, n.Name(), start)
	if err := n.Agent.Call(ctx, op, args, result); err != nil {
		return fmt.Errorf("%s: %w", n.Name(), err)
	}
	return nil
}

// execName names a command for timings: its program's base name, with the
// first argument for a shell wrapper or a multi-call program (nft, ip).
func execName(argv []string) string {
	if len(argv) == 0 {
		return "?"
	}
	name := filepath.Base(argv[0])
	if len(argv) > 1 && (name == "ip" || name == "nft" || name == "sh") && !strings.HasPrefix(argv[1], "-") {
		name += " " + argv[1]
	}
	return name
}

// Timings returns the cell's recorder (nil when timings are off).
func (c *Cluster) Timings() *timing.Recorder { return c.opts.Timings }

// AddClient boots a host outside the cluster on the public network.
func (c *Cluster) AddClient(ctx context.Context, name string) (*Node, error) {
	h, err := c.boot(ctx, name, RoleClient)
	if err != nil {
		return nil, err
	}
	addr := c.publicAddr()
	if err := c.env.Connect(ctx, h.Node, "public", "eth0", addr); err != nil {
		return nil, err
	}
	h.Public = addr.Addr()
	return h, nil
}

// AddNode boots a MicroK8s node on the public network and prepares its pod
// network (the profile's CNI conflist, the profile's iptables variant) and
// its firewalld when the profile runs one.
func (c *Cluster) AddNode(ctx context.Context, name string) (*Node, error) {
	n, err := c.boot(ctx, name, RoleNode)
	if err != nil {
		return nil, err
	}
	addr := c.publicAddr()
	if err := c.env.Connect(ctx, n.Node, "public", "eth0", addr); err != nil {
		return nil, err
	}
	n.Public = addr.Addr()
	if err := n.Call(ctx, agent.OpShim, agent.ShimArgs{Dir: agent.ShimDir, Mode: c.prof.Iptables.Mode}, nil); err != nil {
		return nil, err
	}
	if err := c.prepareNode(ctx, n); err != nil {
		return nil, err
	}
	if n.podSubnet, err = c.bridgeSubnet(); err != nil {
		return nil, err
	}
	n.conflist = cni.FlannelConfList(c.prof.CNI.Network, n.podSubnet.String(), agent.Dir+"/ipam",
		cni.BridgeOptions{Hairpin: c.prof.CNI.Hairpin(), MTU: c.prof.CNI.MTU})
	n.running = true
	if err := c.startFirewalld(ctx, n); err != nil {
		return nil, err
	}
	// MicroK8s starts after the host's firewalld, as on a booting host.
	failed := n.addKubeliteForward(ctx)
	n.mu.Lock()
	n.kubeliteForward = failed
	n.mu.Unlock()
	return n, nil
}

// Node returns a MicroK8s node by name.
func (c *Cluster) Node(name string) (*Node, bool) {
	h, ok := c.Host(name)
	if !ok || h.Role != RoleNode {
		return nil, false
	}
	return h, true
}

// Host returns any host of the cell by name.
func (c *Cluster) Host(name string) (*Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	return n, ok
}

// Hosts returns every host of the cell sorted by name.
func (c *Cluster) Hosts() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

func newContainerID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Close runs the OnClose functions (daemons, monitors, then the agents,
// which stop every pod server), newest first.
func (c *Cluster) Close() {
	c.mu.Lock()
	closers := c.closers
	c.closers = nil
	c.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}
