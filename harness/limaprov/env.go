package limaprov

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"lab/harness/kernel"
	"lab/harness/node"
)

// env is one cell on the lima provider: the VMs lent to its nodes and its
// networks (a bridge per network inside a VM).
type env struct {
	p      *Provider
	prefix string
	image  string
	disk   *vmDisk
	hidden []kernel.Hidden

	mu     sync.Mutex
	nodes  map[string]*vmNode
	order  []*vmNode
	nets   map[string]netInfo
	links  int
	plan   *hidingPlan
	closed bool
}

// netInfo is a cell network: its bridge number and the VM it lives in.
type netInfo struct {
	idx int
	vm  string
}

// AddNode lends a VM of the cell's image to node name and removes the
// kernel profile's modules from its kernel.
func (e *env) AddNode(ctx context.Context, name string) (node.Node, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("bad node name %q", name)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errors.New("lima: environment already closed")
	}
	if _, dup := e.nodes[name]; dup {
		e.mu.Unlock()
		return nil, fmt.Errorf("node %q already exists in this cell", name)
	}
	e.mu.Unlock()
	v, booted, err := e.p.acquire(ctx, e.image, e.disk)
	if err != nil {
		return nil, err
	}
	n := &vmNode{name: name, cell: e.prefix, vm: v, booted: booted}
	e.mu.Lock()
	e.nodes[name] = n
	e.order = append(e.order, n)
	e.mu.Unlock()
	// Registered: Close resets the VM whatever happens next.
	if err := e.record(name, v.name); err != nil {
		return nil, err
	}
	e.p.mu.Lock()
	idx := e.p.mods[e.image]
	e.p.mu.Unlock()
	plan := planHiding(e.hidden, idx)
	if err := v.hide(ctx, plan.Modules); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.plan = &plan
	e.mu.Unlock()
	return n, nil
}

// record writes Home/cells/PREFIX/NODE naming the node's VM (for Shell and
// Leftovers of a kept cell).
func (e *env) record(name, vmName string) error {
	dir := filepath.Join(Home, "cells", e.prefix)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), []byte(vmName+"\n"), 0o644)
}

// KernelHides says how the profile's missing extensions are hidden on this
// cell's nodes: byKernel the VM kernel itself lacks (modules removed),
// byLibrary the driver must hide with the kernel-profile library. Before
// the first node boots everything is byLibrary.
func (e *env) KernelHides() (byKernel, byLibrary []kernel.Hidden) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.plan == nil {
		return nil, append([]kernel.Hidden(nil), e.hidden...)
	}
	return e.plan.ByKernel, e.plan.ByLibrary
}

// RemovedModules lists the kernel modules removed from the cell's VMs.
func (e *env) RemovedModules() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.plan == nil {
		return nil
	}
	return e.plan.Modules
}

// Describe records, per node, the VM that served it and whether this cell
// booted it (with the boot time) or reused it, and the modules removed from
// the VMs' kernel.
func (e *env) Describe() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{"lima_image": e.image, "lima_vm_kernel": e.disk.KernelRelease}
	for _, n := range e.order {
		how := "reused (reset after the previous cell)"
		if n.booted {
			how = fmt.Sprintf("booted for this cell in %.1f s", n.vm.Boot.Seconds())
			if n.vm.Degraded {
				how += " (Lima reported the start degraded; recovered over SSH)"
			}
		}
		out["lima_vm_"+n.name] = n.vm.name + ": " + how
	}
	if e.plan != nil && len(e.plan.Modules) > 0 {
		out["lima_removed_modules"] = strings.Join(e.plan.Modules, ",")
	}
	return out
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

// Connect attaches nd to the cell network named network. A network lives
// inside one VM; one that would span two VMs is not supported yet.
func (e *env) Connect(ctx context.Context, nd node.Node, network, ifname string, addr netip.Prefix) error {
	n, ok := nd.(*vmNode)
	if !ok {
		return fmt.Errorf("connect %s: not a node of the lima provider", nd.Name())
	}
	e.mu.Lock()
	ni, ok := e.nets[network]
	if !ok {
		ni = netInfo{idx: len(e.nets), vm: n.vm.name}
		e.nets[network] = ni
	}
	e.links++
	link := e.links
	e.mu.Unlock()
	if ni.vm != n.vm.name {
		return fmt.Errorf("connect %s to %s: the network is in VM %s and %s is VM %s; networks between VMs are not implemented on the lima provider yet",
			n.name, network, ni.vm, n.name, n.vm.name)
	}
	return n.connect(ctx, ni.idx, link, ifname, addr)
}

// Close resets every VM of the cell and gives it back to the provider (a
// VM whose reset fails is removed). It is idempotent.
func (e *env) Close(ctx context.Context) error {
	e.mu.Lock()
	nodes := e.order
	e.order = nil
	e.closed = true
	e.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		if err := e.p.release(ctx, n.vm); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(Home, "cells", e.prefix)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
