// Package microk8s is the microk8s driver: it implements harness/driver by
// running the real MicroK8s snap in the cell's nodes (LXD VMs of a
// profile with `driver: microk8s`): `snap install microk8s --classic
// --channel C --revision N`, `microk8s status --wait-ready`, `microk8s
// kubectl apply -f -` of the Pods and Services the steps describe (real
// manifests), `microk8s stop` / `start`, the iptables and conntrack tools
// of the node, and curl from client hosts. Everything goes through the
// provider's nodes as commands: no agent, no namespace switching. What it
// cannot do (pod-side probes, kube-proxy handles, traces, gateways) is an
// error saying so (see unsupported.go).
package microk8s

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"lab/harness/agent"
	"lab/harness/driver"
	"lab/harness/execx"
	"lab/harness/node"
	"lab/harness/profile"
	"lab/harness/provider"
)

// PublicNet is the cell network nodes and clients share (TEST-NET-2, as
// the sim's), on interface PublicIface: a VM's eth0 is its uplink.
var PublicNet = netip.MustParsePrefix("198.51.100.0/24")

// PublicIface is the name of every host's interface on PublicNet.
const PublicIface = "lab0"

// ReadyTimeout bounds `microk8s status --wait-ready` and `kubectl wait`.
const ReadyTimeout = 10 * time.Minute

// hostPath is the PATH of commands run on hosts: the distribution's, then
// the snaps' (microk8s), then the MicroK8s snap's own iptables tools for
// a host that has none.
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin:/snap/microk8s/current/usr/sbin:/snap/microk8s/current/sbin"

// Cluster is the real MicroK8s of one cell.
type Cluster struct {
	env  provider.Env
	prof *profile.Profile

	mu     sync.Mutex
	hosts  map[string]*host
	pods   map[string]driver.Pod
	nextIP int
}

type host struct {
	node.Node
	public netip.Addr
	isNode bool
}

var _ driver.Driver = (*Cluster)(nil)

// New returns an empty cluster of one cell on env's nodes.
func New(env provider.Env, prof *profile.Profile) *Cluster {
	return &Cluster{env: env, prof: prof, hosts: map[string]*host{}, pods: map[string]driver.Pod{}, nextIP: 10}
}

// Driver returns the cluster as the steps see it.
func (c *Cluster) Driver() driver.Driver { return c }

// Profile is the cell's profile.
func (c *Cluster) Profile() *profile.Profile { return c.prof }

// run runs argv on host h with the host PATH.
func run(ctx context.Context, h node.Node, stdin []byte, argv ...string) (string, error) {
	res, err := h.Run(ctx, execx.Cmd{Argv: argv, Env: []string{"PATH=" + hostPath, "LC_ALL=C"}, Stdin: stdin})
	if err != nil {
		return string(res.Stdout), fmt.Errorf("%s on %s: %w", strings.Join(argv, " "), h.Name(), err)
	}
	return string(res.Stdout), nil
}

// boot adds a host on the public network.
func (c *Cluster) boot(ctx context.Context, name string, isNode bool) (*host, error) {
	c.mu.Lock()
	if _, dup := c.hosts[name]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("host %q already exists in this cell", name)
	}
	a := PublicNet.Addr().As4()
	a[3] = byte(c.nextIP)
	c.nextIP++
	c.mu.Unlock()
	addr := netip.PrefixFrom(netip.AddrFrom4(a), PublicNet.Bits())
	n, err := c.env.AddNode(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := c.env.Connect(ctx, n, "public", PublicIface, addr); err != nil {
		return nil, err
	}
	h := &host{Node: n, public: addr.Addr(), isNode: isNode}
	c.mu.Lock()
	c.hosts[name] = h
	c.mu.Unlock()
	return h, nil
}

// AddClient boots a host on the public network (no snap).
func (c *Cluster) AddClient(ctx context.Context, name string) error {
	_, err := c.boot(ctx, name, false)
	return err
}

// AddNode boots a node with the profile's snap and, for a flannel
// profile, MicroK8s' flannel instead of its default Calico (`microk8s
// disable ha-cluster --force`: the snap's script switches to flannel and
// etcd; --force as the node is alone). One node per cell:
// joining nodes (`microk8s add-node` / `join`) is not implemented.
func (c *Cluster) AddNode(ctx context.Context, name string) error {
	h, err := c.addNode(ctx, name)
	if err != nil || c.prof.CNI.Name != "flannel" {
		return err
	}
	if _, err := run(ctx, h, nil, "microk8s", "disable", "ha-cluster", "--force"); err != nil {
		return err
	}
	return c.waitReady(ctx, h)
}

// DefaultCalicoPool is the IPv4 pool of MicroK8s' Calico (its cni.yaml
// CALICO_IPV4POOL_CIDR).
var DefaultCalicoPool = netip.MustParsePrefix("10.1.0.0/16")

// AddCalicoNode boots a node with the snap's default Calico; pools other
// than MicroK8s' own are refused (the driver does not reconfigure Calico).
func (c *Cluster) AddCalicoNode(ctx context.Context, name string, pools []netip.Prefix) error {
	for _, p := range pools {
		if p != DefaultCalicoPool {
			return fmt.Errorf("pod pool %s: the microk8s driver runs MicroK8s' Calico as the snap configures it (%s only); not supported by the microk8s driver", p, DefaultCalicoPool)
		}
	}
	_, err := c.addNode(ctx, name)
	return err
}

func (c *Cluster) addNode(ctx context.Context, name string) (*host, error) {
	c.mu.Lock()
	for _, h := range c.hosts {
		if h.isNode {
			c.mu.Unlock()
			return nil, fmt.Errorf("node %s: the cell has a MicroK8s node already; joining nodes (microk8s add-node/join) is not supported by the microk8s driver", name)
		}
	}
	c.mu.Unlock()
	ch, rev := c.prof.MicroK8s.Channel, c.prof.MicroK8s.Revision
	if ch == "" || rev <= 0 {
		return nil, fmt.Errorf("profile %s: the microk8s driver needs microk8s.channel and microk8s.revision", c.prof.Name)
	}
	h, err := c.boot(ctx, name, true)
	if err != nil {
		return nil, err
	}
	if _, err := run(ctx, h, nil, "snap", "install", "microk8s", "--classic", "--channel", ch, "--revision", strconv.Itoa(rev)); err != nil {
		return nil, err
	}
	return h, c.waitReady(ctx, h)
}

func (c *Cluster) waitReady(ctx context.Context, h node.Node) error {
	_, err := run(ctx, h, nil, "microk8s", "status", "--wait-ready", "--timeout", strconv.Itoa(int(ReadyTimeout.Seconds())))
	return err
}

func (c *Cluster) host(name string) (*host, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[name]
	if !ok {
		return nil, fmt.Errorf("no host %q in this cell", name)
	}
	return h, nil
}

func (c *Cluster) node(name string) (*host, error) {
	h, err := c.host(name)
	if err == nil && !h.isNode {
		err = fmt.Errorf("%s is a client, not a MicroK8s node", name)
	}
	return h, err
}

// PublicAddr is a host's address on the public network.
func (c *Cluster) PublicAddr(name string) (netip.Addr, error) {
	h, err := c.host(name)
	if err != nil {
		return netip.Addr{}, err
	}
	return h.public, nil
}

// IsNode reports whether name is a MicroK8s node.
func (c *Cluster) IsNode(name string) bool {
	h, err := c.host(name)
	return err == nil && h.isNode
}

// StopMicroK8s runs `microk8s stop` on the node: what the snap's release
// really does to its pods.
func (c *Cluster) StopMicroK8s(ctx context.Context, name string) error {
	h, err := c.node(name)
	if err != nil {
		return err
	}
	_, err = run(ctx, h, nil, "microk8s", "stop")
	return err
}

// StartMicroK8s runs `microk8s start`, waits until MicroK8s is ready and
// its pods are ready again, and reads their (new) addresses.
func (c *Cluster) StartMicroK8s(ctx context.Context, name string) error {
	h, err := c.node(name)
	if err != nil {
		return err
	}
	if _, err := run(ctx, h, nil, "microk8s", "start"); err != nil {
		return err
	}
	if err := c.waitReady(ctx, h); err != nil {
		return err
	}
	c.mu.Lock()
	var names []string
	for p, pod := range c.pods {
		if pod.Node == name {
			names = append(names, p)
		}
	}
	c.mu.Unlock()
	for _, p := range names {
		if _, err := c.readyPod(ctx, h, p); err != nil {
			return err
		}
	}
	return nil
}

// Runner runs commands on a host with the host PATH (the snap's iptables
// tools last).
func (c *Cluster) Runner(name string) (execx.Runner, error) {
	h, err := c.host(name)
	if err != nil {
		return nil, err
	}
	return pathRunner{h}, nil
}

type pathRunner struct{ n node.Node }

// Run runs cmd with the host PATH unless cmd sets an environment.
func (r pathRunner) Run(ctx context.Context, cmd execx.Cmd) (execx.Result, error) {
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=" + hostPath}
	}
	return r.n.Run(ctx, cmd)
}

// Facts reads, in every host, the kernel, the OS and, on nodes, the
// installed snap (`snap list microk8s`: version and revision).
func (c *Cluster) Facts(ctx context.Context) map[string]agent.Facts {
	c.mu.Lock()
	hosts := make(map[string]*host, len(c.hosts))
	for k, v := range c.hosts {
		hosts[k] = v
	}
	c.mu.Unlock()
	out := map[string]agent.Facts{}
	for name, h := range hosts {
		f := agent.Facts{}
		if s, err := run(ctx, h, nil, "uname", "-r"); err == nil {
			f["kernel"] = strings.TrimSpace(s)
		}
		if s, err := run(ctx, h, nil, "sh", "-c", `. /etc/os-release && echo "$PRETTY_NAME"`); err == nil {
			f["os"] = strings.TrimSpace(s)
		}
		if h.isNode {
			if s, err := run(ctx, h, nil, "snap", "list", "microk8s"); err == nil {
				if v, rev, ok := snapList(s); ok {
					f["microk8s"] = v + " (snap revision " + rev + ")"
				}
			}
		}
		out[name] = f
	}
	return out
}

// snapList reads the version and revision of `snap list NAME`'s one row
// (Name Version Rev Tracking Publisher Notes).
func snapList(out string) (version, rev string, ok bool) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return "", "", false
	}
	f := strings.Fields(lines[1])
	if len(f) < 3 {
		return "", "", false
	}
	return f[1], f[2], true
}

// errUnsupported is wrapped by every "not supported by the microk8s
// driver" error.
var errUnsupported = errors.New("not supported by the microk8s driver")
