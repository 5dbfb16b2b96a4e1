// Package netnsprov is the embedded default provider: every node is a Linux
// network namespace on this machine with its own mount, PID and UTS
// namespaces (see node.go), networks are bridges in a per-cell "fabric"
// namespace, and the real kernel netfilter does the filtering. Nothing is
// created in the host's own network namespace. Nodes run the host's
// binaries; /run, /tmp and firewalld's directories are private per node.
package netnsprov

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"

	"lab/harness/execx"
	"lab/harness/netns"
	"lab/harness/node"
	"lab/harness/provider"

	vns "github.com/vishvananda/netns"
)

// New returns the netns provider.
func New() provider.Provider { return &prov{} }

type prov struct{}

func (*prov) Name() string { return "netns" }

// Userspace says what netns nodes run: no node image.
func (*prov) Userspace() string {
	return "the lab host's own binaries (netns provider: no node image; /run, /tmp and firewalld's directories are private per node)"
}

func (*prov) Check(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return &provider.UnavailableError{Provider: "netns", Reason: "needs root to create network namespaces; run as root (sudo)"}
	}
	return execx.LookPath(map[string]string{"ip": "iproute2", "iptables-legacy": "iptables", "nft": "nftables", "nsenter": "util-linux", "unshare": "util-linux", "tini": "tini"})
}

func (p *prov) NewEnv(ctx context.Context, prefix string) (provider.Env, error) {
	e := &env{prefix: prefix, nodes: map[string]*nsNode{}}
	path, err := e.newNamespace(ctx, "net")
	if err != nil {
		// A cancelled `ip netns add` may still have made the namespace.
		_ = e.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	e.fabric = &netns.Fabric{Path: path}
	return e, nil
}

// Leftovers lists the named network namespaces whose names start with
// prefix (a run's nodes, fabric, anything of it).
func (*prov) Leftovers(ctx context.Context, prefix string) ([]string, error) {
	return netns.List(prefix)
}

// Remove deletes every namespace whose name starts with prefix, killing the
// processes inside (a node's PID 1 takes its whole node with it).
func (*prov) Remove(ctx context.Context, prefix string) error {
	names, err := netns.List(prefix)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		if err := netns.Delete(ctx, names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shell returns nsenter into every namespace of the node.
func (*prov) Shell(ctx context.Context, prefix, name string) ([]string, error) {
	pid, err := holderOf(ctx, prefix+"-h-"+name)
	if err != nil {
		return nil, err
	}
	return enter(pid), nil
}

type env struct {
	prefix string
	fabric *netns.Fabric

	mu         sync.Mutex
	namespaces []string // full names, in creation order
	nodes      map[string]*nsNode
	closed     bool
}

func (e *env) newNamespace(ctx context.Context, name string) (string, error) {
	full := e.prefix + "-" + name
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return "", errors.New("netns: environment already closed")
	}
	// Register before creating, so a half-made namespace is still removed.
	e.namespaces = append(e.namespaces, full)
	e.mu.Unlock()
	return netns.Create(ctx, full)
}

// AddNode creates the node's network namespace and boots its holder.
func (e *env) AddNode(ctx context.Context, name string) (node.Node, error) {
	if strings.ContainsAny(name, "/ \t\n") || name == "" {
		return nil, fmt.Errorf("bad node name %q", name)
	}
	e.mu.Lock()
	_, dup := e.nodes[name]
	e.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("node %q already exists in this cell", name)
	}
	path, err := e.newNamespace(ctx, "h-"+name)
	if err != nil {
		return nil, err
	}
	n, err := bootNode(ctx, name, path)
	if err != nil {
		return nil, err
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

// Connect plugs the node's network namespace into the network's bridge in
// the cell's fabric.
func (e *env) Connect(ctx context.Context, nd node.Node, network, ifname string, addr netip.Prefix) error {
	h, ok := nd.(*nsNode)
	if !ok {
		return fmt.Errorf("connect %s: not a node of the netns provider", nd.Name())
	}
	hns, err := vns.GetFromPath(h.netns)
	if err != nil {
		return fmt.Errorf("open namespace of %s: %w", h.name, err)
	}
	defer hns.Close()
	if err := e.fabric.Attach(hns, network, ifname, addr); err != nil {
		return fmt.Errorf("connect %s to %s: %w", h.name, network, err)
	}
	return nil
}

// Close removes every namespace of the cell, newest first, killing any
// process left inside. Deleting a namespace destroys its interfaces.
func (e *env) Close(ctx context.Context) error {
	e.mu.Lock()
	names := e.namespaces
	e.namespaces = nil
	e.closed = true
	e.mu.Unlock()
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		if err := netns.Delete(ctx, names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
