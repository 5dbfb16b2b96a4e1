// Package sim is the simulation driver: it builds the data plane a MicroK8s
// node would have with the real components that matter (real CNI plugins via
// libcni, real iptables binaries of the profile's variant, real listeners in
// pod namespaces) and replays what `microk8s stop` / `start` do per profile.
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
	"sync"

	"lab/harness/cni"
	"lab/harness/execx"
	"lab/harness/iptables"
	"lab/harness/kernel"
	"lab/harness/netns"
	"lab/harness/profile"
	"lab/harness/provider"
)

// PublicNet is the network nodes and outside clients share (TEST-NET-2,
// never routed anywhere: it exists only inside the cell's namespaces).
var PublicNet = netip.MustParsePrefix("198.51.100.0/24")

// Options locate what the driver needs on this machine.
type Options struct {
	// StateDir holds per-cell state (IPAM leases, CNI cache, shims).
	StateDir string
	// PluginDir holds the built CNI plugins.
	PluginDir string
	// HidextLib is the kernel-profile library; needed only when the
	// profile hides extensions.
	HidextLib string
}

// Cluster is the simulated cluster of one cell.
type Cluster struct {
	env  provider.Env
	prof *profile.Profile
	opts Options

	mu      sync.Mutex
	nodes   map[string]*Node
	clients map[string]provider.Host
	nextIP  int
	closers []func()
	// ext holds per-cell state of driver parts kept in other files (Ext).
	ext map[string]any
}

// OnClose registers a teardown function (stop a daemon, a goroutine, a
// listener) run by Close in reverse order, before the provider removes the
// namespaces. Register it before checking the error of what it undoes.
func (c *Cluster) OnClose(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closers = append(c.closers, f)
}

// New returns an empty cluster for one cell.
func New(env provider.Env, prof *profile.Profile, opts Options) *Cluster {
	return &Cluster{env: env, prof: prof, opts: opts,
		nodes: map[string]*Node{}, clients: map[string]provider.Host{}, nextIP: 10}
}

// Env returns the cell's provider environment.
func (c *Cluster) Env() provider.Env { return c.env }

// StateDir returns the cell's state directory.
func (c *Cluster) StateDir() string { return c.opts.StateDir }

// NodeEnv is the environment every process the lab runs on a node gets: the
// profile's iptables variant first in PATH (as the snap's bundled binaries)
// and, for a kernel profile, the library hiding its missing extensions.
func (c *Cluster) NodeEnv(shimDir string) ([]string, error) {
	env := []string{
		"PATH=" + shimDir + ":" + os.Getenv("PATH"),
		// Each node takes its own xtables lock, as a separate machine would,
		// so parallel cells do not queue on the host's /run/xtables.lock.
		"XTABLES_LOCKFILE=" + filepath.Join(filepath.Dir(shimDir), "xtables.lock"),
		// firewall-cmd reaches the node's own firewalld, never the host's.
		BusEnv(filepath.Dir(shimDir)),
	}
	if h := c.prof.Kernel.Hidden(); len(h) > 0 {
		if c.opts.HidextLib == "" {
			return nil, fmt.Errorf("profile %s hides kernel extensions but the kernel-profile library is not built; run `make build`", c.prof.Name)
		}
		env = append(env, kernel.Env(c.opts.HidextLib, h)...)
	}
	return env, nil
}

// Profile returns the cluster's profile.
func (c *Cluster) Profile() *profile.Profile { return c.prof }

func (c *Cluster) publicAddr() netip.Prefix {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := PublicNet.Addr().As4()
	a[3] = byte(c.nextIP)
	c.nextIP++
	return netip.PrefixFrom(netip.AddrFrom4(a), PublicNet.Bits())
}

// Node is one simulated MicroK8s node.
type Node struct {
	provider.Host
	cluster *Cluster
	// Public is the node's address on the public network.
	Public netip.Addr
	// Runner runs commands in the node with the profile's iptables variant
	// first in PATH, as MicroK8s' bundled binaries see it.
	Runner netns.Runner
	net    *cni.Net

	mu      sync.Mutex
	pods    []*Pod
	running bool
}

// Pod is one pod with hostPorts; its sandbox is a network namespace.
type Pod struct {
	Name        string
	Ports       []cni.PortMapping
	ContainerID string
	IP          netip.Addr
	Generation  int
	ns          string // namespace name (without the cell prefix)
	nsPath      string
	servers     []*server
}

// AddClient boots a host outside the cluster on the public network.
func (c *Cluster) AddClient(ctx context.Context, name string) (provider.Host, error) {
	h, err := c.env.AddHost(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := c.env.Connect(ctx, h, "public", "eth0", c.publicAddr()); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.clients[name] = h
	c.mu.Unlock()
	return h, nil
}

// AddNode boots a node on the public network and prepares its pod network
// (the profile's CNI conflist, the profile's iptables variant).
func (c *Cluster) AddNode(ctx context.Context, name string) (*Node, error) {
	h, err := c.env.AddHost(ctx, name)
	if err != nil {
		return nil, err
	}
	addr := c.publicAddr()
	if err := c.env.Connect(ctx, h, "public", "eth0", addr); err != nil {
		return nil, err
	}
	dir := filepath.Join(c.opts.StateDir, "nodes", name)
	shim := filepath.Join(dir, "bin")
	if err := iptables.Shim(shim, c.prof.Iptables.Mode); err != nil {
		return nil, err
	}
	env, err := c.NodeEnv(shim)
	if err != nil {
		return nil, err
	}
	r := netns.Runner{Path: h.NetNS(), Env: env}
	if err := c.prepareNode(ctx, dir, r); err != nil {
		return nil, err
	}
	conflist := cni.FlannelConfList(c.prof.CNI.Network, c.prof.CNI.Subnet, filepath.Join(dir, "ipam"))
	n, err := cni.New(c.opts.PluginDir, filepath.Join(dir, "cni-cache"), r, conflist)
	if err != nil {
		return nil, err
	}
	node := &Node{Host: h, cluster: c, Public: addr.Addr(), Runner: r, net: n, running: true}
	c.mu.Lock()
	c.nodes[name] = node
	c.mu.Unlock()
	if err := c.startFirewalld(ctx, node, dir); err != nil {
		return nil, err
	}
	return node, nil
}

// Node returns a node by name.
func (c *Cluster) Node(name string) (*Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	return n, ok
}

// Client returns a client host by name.
func (c *Cluster) Client(name string) (provider.Host, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.clients[name]
	return h, ok
}

// Run runs a command on the node with its iptables variant first in PATH.
func (n *Node) Run(ctx context.Context, cmd execx.Cmd) (execx.Result, error) {
	return n.Runner.Run(ctx, cmd)
}

func newContainerID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddPod creates a pod sandbox, attaches it with CNI ADD (hostPorts through
// portmap) and starts its HTTP servers on the container ports.
func (n *Node) AddPod(ctx context.Context, name string, ports []cni.PortMapping) (*Pod, error) {
	n.mu.Lock()
	for _, p := range n.pods {
		if p.Name == name {
			n.mu.Unlock()
			return nil, fmt.Errorf("pod %q already exists on %s", name, n.Name())
		}
	}
	p := &Pod{Name: name, Ports: ports}
	n.pods = append(n.pods, p)
	n.mu.Unlock()
	return p, n.sandbox(ctx, p)
}

// sandbox creates a new sandbox for p (a new container ID and namespace),
// runs CNI ADD and starts the servers.
func (n *Node) sandbox(ctx context.Context, p *Pod) error {
	p.Generation++
	p.ContainerID = newContainerID()
	p.ns = fmt.Sprintf("p-%s-%s-%d", n.Name(), p.Name, p.Generation)
	path, err := n.cluster.env.NewNamespace(ctx, p.ns)
	if err != nil {
		return err
	}
	ip, err := n.net.Add(ctx, p.ContainerID, path, p.Ports)
	if err != nil {
		return fmt.Errorf("pod %s on %s: %w", p.Name, n.Name(), err)
	}
	p.IP, p.nsPath = ip, path
	return n.serve(p)
}

func (n *Node) serve(p *Pod) error {
	seen := map[int]bool{}
	for _, pm := range p.Ports {
		if seen[pm.ContainerPort] {
			continue
		}
		seen[pm.ContainerPort] = true
		s, err := listen(p.nsPath, pm.ContainerPort, fmt.Sprintf("pod %s (%s, sandbox %d)", p.Name, p.IP, p.Generation))
		if err != nil {
			return err
		}
		p.servers = append(p.servers, s)
	}
	return nil
}

func (p *Pod) stopServers() {
	for _, s := range p.servers {
		s.close()
	}
	p.servers = nil
}

// Pods returns the node's pods sorted by name.
func (n *Node) Pods() []*Pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := append([]*Pod(nil), n.pods...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Stop does what `microk8s stop` does to pods for the profile: 1.31.6 stops
// the containers but leaves sandboxes and rules; 1.32.2 removes the
// containers with ctr (no CNI DEL, so portmap's rules stay); 1.32.3 does the
// same and flushes the chains the fix flushes.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return fmt.Errorf("microk8s on %s is already stopped", n.Name())
	}
	stop := n.cluster.prof.MicroK8s.Stop
	for _, p := range n.pods {
		p.stopServers()
		if stop.RemoveContainers {
			if err := n.cluster.env.DeleteNamespace(ctx, p.ns); err != nil {
				return err
			}
		}
	}
	for _, chain := range stop.FlushChains {
		if _, err := n.Runner.Run(ctx, execx.Cmd{Argv: []string{"iptables", "-t", "nat", "-F", chain}}); err != nil {
			return fmt.Errorf("microk8s stop on %s: %w", n.Name(), err)
		}
	}
	n.running = false
	return nil
}

// Start does what `microk8s start` does: kubelet recreates removed sandboxes
// (new container IDs, CNI ADD) or restarts containers in kept ones.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return fmt.Errorf("microk8s on %s is already running", n.Name())
	}
	for _, p := range n.pods {
		var err error
		if n.cluster.prof.MicroK8s.Stop.RemoveContainers {
			err = n.sandbox(ctx, p)
		} else {
			err = n.serve(p)
		}
		if err != nil {
			return fmt.Errorf("microk8s start on %s: %w", n.Name(), err)
		}
	}
	n.running = true
	return nil
}

// Close runs the OnClose functions, then stops every pod server of the
// cluster (releasing their sockets so the provider can remove the
// namespaces).
func (c *Cluster) Close() {
	c.mu.Lock()
	closers := c.closers
	c.closers = nil
	c.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		n.mu.Lock()
		for _, p := range n.pods {
			p.stopServers()
		}
		n.mu.Unlock()
	}
}
