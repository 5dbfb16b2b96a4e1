package dockerprov

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"lab/harness/netns"
	"lab/harness/node"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// env is one cell: its containers, networks and veth links, each
// registered before it is created so Close removes half-made ones too.
type env struct {
	cli    *client.Client
	prefix string
	img    nodeImage

	mu         sync.Mutex
	closed     bool
	nodes      map[string]*dkNode
	containers []string
	namespaces []string      // the fabric, once made
	fab        *netns.Fabric // the fabric's bridges, once made
}

// register records a resource for Close; it fails once closed.
func (e *env) register(list *[]string, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("docker: environment already closed")
	}
	*list = append(*list, name)
	return nil
}

// AddNode creates and starts the node's container (through
// testcontainers-go, Ryuk off, never pulling) with network mode "none": a
// node has only the networks Connect gives it.
func (e *env) AddNode(ctx context.Context, name string) (node.Node, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("bad node name %q", name)
	}
	e.mu.Lock()
	_, dup := e.nodes[name]
	e.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("node %q already exists in this cell", name)
	}
	cname := e.prefix + "-" + name
	if err := e.register(&e.containers, cname); err != nil {
		return nil, err
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image: e.img.tag,
			Name:  cname,
			Cmd:   []string{"sleep", "infinity"},
			Labels: map[string]string{LabelPrefix: e.prefix, LabelNode: name,
				LabelImage: e.img.name, LabelFingerprint: e.img.fingerprint},
			ConfigModifier:     func(c *container.Config) { c.Hostname = name },
			HostConfigModifier: hostConfig,
		},
		Started: true,
		Logger:  tclog.NewNoopLogger(),
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("boot node %s: docker container %s from %s: %w", name, cname, e.img.tag, err)
	}
	id := ctr.GetContainerID()
	ins, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("boot node %s: %w", name, err)
	}
	if ins.Container.State == nil || ins.Container.State.Pid <= 0 {
		return nil, fmt.Errorf("boot node %s: container %s is not running", name, cname)
	}
	n := &dkNode{name: name, id: id, pid: ins.Container.State.Pid, cli: e.cli, image: e.img.name, tag: e.img.tag, fingerprint: e.img.fingerprint}
	e.mu.Lock()
	e.nodes[name] = n
	e.mu.Unlock()
	return n, nil
}

// hostConfig is what a node container may do. The engine refuses
// --privileged; NET_ADMIN (interfaces, routes, netfilter, network
// namespaces with SYS_ADMIN) and SYS_ADMIN (mounts for `ip netns`, setns)
// are enough for the agent, both iptables variants, nft and firewalld;
// NET_RAW is in Docker's default set. No masked or read-only paths, so the
// node's (namespaced) sysctls under /proc/sys are writable; IPv6 on. Init: the
// engine's init reaps orphans and stops the container in 0.1 s.
func hostConfig(hc *container.HostConfig) {
	hc.NetworkMode = "none"
	hc.CapAdd = append(hc.CapAdd, "NET_ADMIN", "SYS_ADMIN")
	hc.MaskedPaths = []string{}
	hc.ReadonlyPaths = []string{}
	init := true
	hc.Init = &init
	// The engine disables IPv6 in containers whose networks have none;
	// nodes build dual-stack pod networks (Calico's fd01::/..) themselves.
	hc.Sysctls = map[string]string{"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.default.disable_ipv6": "0"}
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

// Close removes the cell's containers, then its fabric namespace. It is
// idempotent.
func (e *env) Close(ctx context.Context) error {
	e.mu.Lock()
	ctrs, nss := e.containers, e.namespaces
	e.containers, e.namespaces = nil, nil
	e.closed = true
	e.mu.Unlock()
	errs := removeContainers(ctx, e.cli, ctrs)
	errs = append(errs, deleteNamespaces(ctx, nss))
	return joinErrs(errs)
}

// joinErrs joins the non-nil errors.
func joinErrs(errs []error) error { return errors.Join(errs...) }
