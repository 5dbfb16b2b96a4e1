package lxdprov

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"

	"lab/harness/execx"
	"lab/harness/node"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// env is one cell: nodes copied from the image's base snapshot, and LXD
// bridge networks.
type env struct {
	c    lxd.InstanceServer // creates instances on the cell's member
	root lxd.InstanceServer // the remote without a target (cluster-wide calls)
	// image and fingerprint say what the nodes booted from (ctNode.Describe)
	image, fingerprint string
	members            []string // the cluster's members ("" off a cluster)
	member             string   // the member the cell is placed on
	load               int      // the provider's cells on that member then, this one included
	release            func()   // ends the cell's placement
	remote             string   // the remote's label
	prefix             string
	source             string // base/snapshot the nodes are copied from
	local              bool   // the daemon runs on this host (its bridges are ours to tune)
	nsenter            bool   // run node commands with nsenter (Options.NsenterExec)
	userspace          string
	// later, when set, runs Close's deletions in the background
	// (Provider.teardown: the run's Shutdown waits for them); nil: Close
	// deletes before it returns
	later func(func() error)
	// slots are the node containers made so far (slots.go), ahead those
	// made for the next nodes; prepCtx ends with Close
	slots      []*slot
	sizes      *cellSizes // the run's cells' sizes (the provider's)
	guessed    bool       // made ahead for the cell by the one before (nextcell.go): slots PREFIX-aK
	ahead      []*slot
	prepCtx    context.Context
	prepCancel context.CancelFunc

	mu        sync.Mutex
	instances []string // registered before creation, so Close removes half-made ones
	nodes     map[string]*ctNode
	networks  map[string]string // cell network -> LXD network name
	closed    bool
}

// reserve checks a new node's name and registers its instance name
// before it is created, so Close removes a half-made one.
func (e *env) reserve(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return "", fmt.Errorf("bad node name %q", name)
	}
	inst := instanceName(e.prefix, name)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", errors.New("lxd: environment already closed")
	}
	if _, dup := e.nodes[name]; dup {
		return "", fmt.Errorf("node %q already exists in this cell", name)
	}
	e.instances = append(e.instances, inst)
	return inst, nil
}

// Userspace says which image and daemon the cell's nodes run.
func (e *env) Userspace() string { return e.userspace }

// Describe records the remote and, on a cluster, the member the cell's
// nodes ran on.
func (e *env) Describe() map[string]string {
	out := map[string]string{"lxd_remote": e.remote}
	if e.member != "" {
		out["lxd_member"] = e.member
		out["lxd_member_load"] = fmt.Sprintf("%d of the run's cells on %s when placed (this one included)", e.load, e.member)
	}
	return out
}

// AddNode takes the slot made ahead (slots.go: a copy of the base
// snapshot, started, its init up), waiting for it if need be, and names
// the node (hostname) in it.
func (e *env) AddNode(ctx context.Context, name string) (node.Node, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("bad node name %q", name)
	}
	s, err := e.takeSlot(name)
	if err != nil {
		return nil, err
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("lxd: node %s (%s): %w", name, s.inst, ctx.Err())
	}
	if s.err != nil {
		return nil, fmt.Errorf("lxd: node %s: %w", name, s.err)
	}
	n := &ctNode{c: e.c, name: name, instance: s.inst, pid: s.pid, image: e.image, fingerprint: e.fingerprint}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"hostname", name}}); err != nil {
		return nil, fmt.Errorf("lxd: node %s (%s): %w", name, s.inst, err)
	}
	e.mu.Lock()
	e.nodes[name] = n
	e.mu.Unlock()
	return n, nil
}

func (e *env) Node(name string) (node.Node, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.nodes[name]
	if !ok {
		return nil, false
	}
	return n, true
}

// networkName is the LXD (and host interface) name of a cell network: at
// most 15 characters, so a hash of the prefix and the network; the prefix
// itself is in the network's user.lab.prefix.
func networkName(prefix, network string) string {
	h := sha256.Sum256([]byte(prefix + "/" + network))
	return "lab" + hex.EncodeToString(h[:])[:10]
}

// network creates the cell network on first use: a bridge without host
// address, NAT, DHCP or IPv6, whose subnet (from the first address
// connected) is recorded in user.lab.subnet. No host address: concurrent
// cells use the same subnets, which must not enter the host's routes.
func (e *env) network(network string, addr netip.Prefix) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n, ok := e.networks[network]; ok {
		return n, nil
	}
	name := networkName(e.prefix, network)
	e.networks[network] = name // registered first: Close removes a half-made one
	err := createNetwork(e.root, e.members, api.NetworksPost{Name: name, Type: "bridge", NetworkPut: api.NetworkPut{
		Description: "lab cell " + e.prefix + " network " + network,
		Config: map[string]string{
			"ipv4.address": "none", "ipv6.address": "none", "ipv4.nat": "false",
			"ipv4.dhcp": "false", "ipv6.dhcp": "false", "ipv4.firewall": "false", "ipv6.firewall": "false",
			"user.lab.prefix": e.prefix, "user.lab.network": network, "user.lab.subnet": addr.Masked().String(),
		},
	}})
	if err != nil {
		delete(e.networks, network)
		return "", fmt.Errorf("lxd: create network %s (%s): %w", network, name, err)
	}
	if e.local {
		// The host must not answer ARP for its own addresses on a cell
		// bridge (nodes' addresses may be the host's, e.g. TEST-NET).
		_ = os.WriteFile("/proc/sys/net/ipv4/conf/"+name+"/arp_ignore", []byte("8"), 0o644)
	}
	return name, nil
}

// addNIC adds a bridged NIC named ifname on bridge to the instance, and
// records the node's name in its user.lab.node (Shell), and returns its
// MAC address.
func (e *env) addNIC(ctx context.Context, inst, node, ifname, bridge string) (string, error) {
	for attempt := 0; ; attempt++ {
		in, etag, err := e.c.GetInstance(inst)
		if err != nil {
			return "", err
		}
		if _, ok := in.Devices[ifname]; ok {
			return "", fmt.Errorf("%s already has an interface %s", inst, ifname)
		}
		put := in.Writable()
		// "network", not nictype bridged + parent: LXD resolves its own
		// managed bridge (a parent is looked up in the daemon's /sys, which
		// need not be its network namespace's).
		put.Devices[ifname] = map[string]string{"type": "nic", "network": bridge, "name": ifname}
		put.Config["user.lab.node"] = node
		op, err := e.c.UpdateInstance(inst, put, etag)
		if err == nil {
			err = waitOp(ctx, op)
		}
		if err != nil && api.StatusErrorCheck(err, 412) && attempt < 5 {
			continue // a concurrent change: read again
		}
		if err != nil {
			return "", err
		}
		in, _, err = e.c.GetInstance(inst)
		if err != nil {
			return "", err
		}
		mac := in.Config["volatile."+ifname+".hwaddr"]
		if mac == "" {
			return "", fmt.Errorf("no MAC address for %s on %s", ifname, inst)
		}
		return strings.ToLower(mac), nil
	}
}

// setupNIC finds the interface by MAC inside the node, names it ifname and
// gives it addr.
const setupNIC = `mac=$1 want=$2 addr=$3 cur=
i=0
while [ $i -lt 200 ]; do
  for d in /sys/class/net/*; do [ "$(cat "$d/address")" = "$mac" ] && cur=${d##*/}; done
  [ -n "$cur" ] && break
  i=$((i+1)); sleep 0.05
done
[ -n "$cur" ] || { echo "no interface with MAC $mac" >&2; exit 1; }
if [ "$cur" != "$want" ]; then ip link set "$cur" down && ip link set "$cur" name "$want" || exit 1; fi
ip addr add "$addr" dev "$want" && ip link set "$want" up`

// Connect attaches n to the cell network through a NIC named ifname.
func (e *env) Connect(ctx context.Context, nd node.Node, network, ifname string, addr netip.Prefix) error {
	n, ok := nd.(*ctNode)
	if !ok {
		return fmt.Errorf("connect %s: not a node of the lxd provider", nd.Name())
	}
	br, err := e.network(network, addr)
	if err != nil {
		return err
	}
	mac, err := e.addNIC(ctx, n.instance, n.name, ifname, br)
	if err != nil {
		return fmt.Errorf("connect %s to %s: %w", n.name, network, err)
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", setupNIC, "setup-nic", mac, ifname, addr.String()}}); err != nil {
		return fmt.Errorf("connect %s to %s: %w", n.name, network, err)
	}
	return nil
}

// Close deletes the cell's instances, then its networks: in the
// background when the provider collects teardowns (e.later; a container
// cell), else before it returns. Idempotent.
func (e *env) Close(ctx context.Context) error {
	e.mu.Lock()
	insts := e.instances
	var nets []string
	for _, n := range e.networks {
		nets = append(nets, n)
	}
	closed, slots := e.closed, e.slots
	if !closed && len(e.nodes) > 0 {
		e.sizes.saw(len(e.nodes))
	}
	e.instances, e.networks, e.closed, e.slots, e.ahead = nil, map[string]string{}, true, nil, nil
	e.mu.Unlock()
	remove := func() error {
		if closed {
			return nil // released by the first Close
		}
		defer e.release()
		e.endSlots(slots)
		if err := removeAll(e.root, insts, nets); err != nil {
			return fmt.Errorf("lxd: teardown of cell %s: %w", e.prefix, err)
		}
		return nil
	}
	if e.later == nil {
		return remove()
	}
	e.later(remove)
	return nil
}

// waitOp waits for an LXD operation. When ctx ends first it still waits
// for the operation itself (LXD goes on with it: an instance being created
// or started cannot be deleted), then returns ctx's error.
func waitOp(ctx context.Context, op lxd.Operation) error {
	err := op.WaitContext(ctx)
	if ctx.Err() != nil {
		_ = op.Wait()
		return ctx.Err()
	}
	return err
}

// copyBase creates inst as a stopped copy of the base snapshot.
func (e *env) copyBase(ctx context.Context, inst string) error {
	op, err := e.c.CreateInstance(api.InstancesPost{
		Name: inst, Type: api.InstanceTypeContainer,
		Source: api.InstanceSource{Type: "copy", Source: e.source, InstanceOnly: true},
		InstancePut: api.InstancePut{
			Profiles:    []string{},
			Config:      map[string]string{"user.lab.prefix": e.prefix},
			Description: "lab cell " + e.prefix,
		},
	})
	if err == nil {
		err = waitOp(ctx, op)
	}
	if err != nil {
		return fmt.Errorf("lxd: create %s from %s: %w", inst, e.source, err)
	}
	return nil
}
