// Package lxdprov is the LXD provider: every node is a privileged, nesting
// LXD container booted from a node image (images/recipes, built by `lab
// images build`) with the image's own userspace (its iptables, nft,
// firewalld), networks are per-cell LXD bridges without NAT, DHCP or a
// host address, and the host kernel's netfilter does the filtering (the
// containers share it, so kernel profiles keep their LD_PRELOAD library).
// Images are imported once and cached by alias (lab-node/NAME-HASH12); a
// base container per image is prepared once and snapshotted, and every
// cell's nodes are copies of that snapshot (see prepare.go). Everything a
// cell creates carries its prefix: instance names start with it, networks
// carry it in user.lab.prefix.
package lxdprov

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"lab/harness/image"
	"lab/harness/locate"
	"lab/harness/provider"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// DefaultImage is the node image of profiles that name none (the suite of
// the hosts the lab is developed on).
const DefaultImage = "debian-bookworm"

// Instance types a profile or the provider may ask for.
const (
	Container      = "container"
	VirtualMachine = "virtual-machine"
)

// Options configure the provider.
type Options struct {
	// Remote is the daemon to drive (zero: the local one).
	Remote Remote
	// Recipes is the node image recipe directory ("": images/recipes of
	// the repository).
	Recipes string
	// ImageRoot is where images are built ("": image.DefaultRoot).
	ImageRoot string
	// InstanceType is Container (default) or VirtualMachine (real
	// infrastructure only: needs an LXD with the qemu driver).
	InstanceType string
	// NsenterExec runs node commands, and copies files in, with nsenter
	// into the container's init (a daemon on this host only) instead of
	// LXD's exec and file APIs: one process instead of an API operation
	// and its websockets. On in New and NewOn unless LAB_LXD_EXEC=api.
	NsenterExec bool
}

// New returns the LXD provider on the local daemon with default options
// (Options.NsenterExec unless LAB_LXD_EXEC=api).
func New() provider.Provider {
	return NewOn(Remote{})
}

// NewOn returns the LXD provider with default options on remote r.
func NewOn(r Remote) provider.Provider {
	return NewWith(Options{Remote: r, NsenterExec: os.Getenv("LAB_LXD_EXEC") != "api"})
}

// NewWith returns the LXD provider with opts.
func NewWith(opts Options) provider.Provider {
	if opts.ImageRoot == "" {
		opts.ImageRoot = image.DefaultRoot
	}
	if opts.InstanceType == "" {
		opts.InstanceType = Container
	}
	if opts.InstanceType == VirtualMachine {
		return &vmProvider{&Provider{opts: opts}} // vm.go
	}
	return &Provider{opts: opts}
}

// Provider is the LXD provider (see the package comment).
type Provider struct {
	opts Options
	mu   sync.Mutex
	c    lxd.InstanceServer
	// pool is the storage pool of the daemon's root disk (clientPool).
	pool string
	// bases are the base instances prepared or used for this provider's
	// run(s); Shutdown removes them.
	bases map[string]bool
	// place records live cells per cluster member (placement.go).
	place placer
	// teardown tracks the closed cells' deletions (teardown.go).
	teardown teardowns
	// sizes are the closed cells' node counts (slots.go).
	sizes cellSizes
	// next are the environments made ahead for next cells (nextcell.go).
	next nextCells
}

// Name is "lxd".
func (*Provider) Name() string { return "lxd" }

func (p *Provider) client(ctx context.Context) (lxd.InstanceServer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		return p.c, nil
	}
	c, err := p.opts.Remote.connect(ctx)
	if err != nil {
		return nil, err
	}
	p.c = c
	return c, nil
}

// clientPool returns the client and the storage pool nodes are made in,
// the pool read from the daemon once per provider.
func (p *Provider) clientPool(ctx context.Context) (lxd.InstanceServer, string, error) {
	c, err := p.client(ctx)
	if err != nil {
		return nil, "", err
	}
	p.mu.Lock()
	pool := p.pool
	p.mu.Unlock()
	if pool != "" {
		return c, pool, nil
	}
	if pool, err = rootPool(c); err != nil {
		return nil, "", err
	}
	p.mu.Lock()
	p.pool = pool
	p.mu.Unlock()
	return c, pool, nil
}

// Check says why no cell can run: no daemon answers, it has no storage
// pool, or it cannot run the instance type asked for.
func (p *Provider) Check(ctx context.Context) error {
	unavailable := func(format string, a ...any) error {
		return &provider.UnavailableError{Provider: "lxd", Reason: fmt.Sprintf(format, a...)}
	}
	if p.opts.Remote.URL == "" && os.Geteuid() != 0 {
		return unavailable("needs root for the local LXD socket; run as root (sudo)")
	}
	c, err := p.client(ctx)
	if err != nil && p.opts.Remote.URL != "" {
		return unavailable("remote %s does not answer: %v (check that the daemon listens there: `lxc info %s:`)", p.opts.Remote.label(), err, p.opts.Remote.Name)
	}
	if err != nil {
		return unavailable("no LXD daemon answers: %v (run `make lxd` to install, start and initialise Debian's LXD)", err)
	}
	if _, err := rootPool(c); err != nil {
		return unavailable("%v", err)
	}
	if p.opts.InstanceType == VirtualMachine {
		return checkVM(c)
	}
	return nil
}

// checkVM asks LXD for a virtual machine: it creates an empty one (no
// image, never started) named lab-vmprobe-..., and deletes it again. LXD's
// refusal (no qemu driver, no KVM or vhost_vsock) is the reason given.
func checkVM(c lxd.InstanceServer) error {
	srv, _, err := c.GetServer()
	if err != nil {
		return err
	}
	name := fmt.Sprintf("lab-vmprobe-%d", os.Getpid())
	op, err := c.CreateInstance(api.InstancesPost{
		Name: name, Type: api.InstanceTypeVM, Source: api.InstanceSource{Type: "none"},
		InstancePut: api.InstancePut{Profiles: []string{}, Config: map[string]string{"user.lab.prefix": name}},
	})
	if err == nil {
		err = op.Wait()
	}
	_ = deleteInstance(c, name)
	if err != nil {
		return &provider.UnavailableError{Provider: "lxd-vm", Reason: fmt.Sprintf(
			"LXD %s (drivers %q) refuses a virtual machine: %v; VM mode needs real infrastructure (KVM, vhost_vsock, LXD's qemu driver)",
			srv.Environment.ServerVersion, srv.Environment.Driver, err)}
	}
	return nil
}

// NewEnv starts an environment on the default node image.
func (p *Provider) NewEnv(ctx context.Context, prefix string) (provider.Env, error) {
	return p.NewImageEnv(ctx, prefix, "")
}

// NewImageEnv starts an environment whose nodes boot the node image name
// ("" for DefaultImage): the image is imported and its base prepared on
// first use.
func (p *Provider) NewImageEnv(ctx context.Context, prefix, name string) (provider.Env, error) {
	if name == "" {
		name = DefaultImage
	}
	if p.opts.InstanceType == VirtualMachine {
		return nil, fmt.Errorf("lxd: virtual-machine nodes boot the profile's vm.image with its kernel, not a node image: use NewProfileEnv (vm.go)")
	}
	recipes := p.opts.Recipes
	if recipes == "" {
		root, err := locate.Root()
		if err != nil {
			return nil, err
		}
		recipes = filepath.Join(root, "images", "recipes")
	}
	img, err := resolveImage(recipes, p.opts.ImageRoot, name)
	if err != nil {
		return nil, err
	}
	c, pool, err := p.clientPool(ctx)
	if err != nil {
		return nil, err
	}
	members, err := p.cluster(ctx)
	if err != nil {
		return nil, err
	}
	member, load, release, err := p.placeCell(ctx)
	if err != nil {
		return nil, err
	}
	target, tc := p.opts.Remote.Target, c
	if member != "" {
		target, tc = member, c.UseTarget(member)
	}
	if e := p.adoptNext(prefix, baseName(runOf(prefix), img, target)+"/"+baseSnapshot); e != nil {
		e.release, e.load = release, load // made ahead by the cell before (nextcell.go)
		p.guessNext(e)
		return e, nil
	}
	src, err := ensureBase(ctx, tc, img, pool, target, runOf(prefix))
	p.mu.Lock()
	if p.bases == nil {
		p.bases = map[string]bool{}
	}
	p.bases[baseName(runOf(prefix), img, target)] = true // registered before the check: a half-made base goes too
	p.mu.Unlock()
	if err != nil {
		release()
		return nil, err
	}
	// the LXD image the base came from (ensureBase imported it; the alias
	// answers at once), recorded per node as docker does
	fp, err := ensureImage(tc, img)
	if err != nil {
		release()
		return nil, err
	}
	local := p.opts.Remote.URL == ""
	e := &env{c: tc, root: c, image: img.Name + "-" + img.Hash[:12] + " (LXD image " + AliasPrefix + img.Name + "-" + img.Hash[:12] + ")", fingerprint: fp, members: members, member: member, load: load, release: release, remote: p.opts.Remote.label(),
		prefix: prefix, source: src, local: local, later: p.teardown.spawn, sizes: &p.sizes, nsenter: local && p.opts.NsenterExec,
		userspace: fmt.Sprintf("node image %s-%s (Debian %s), %s privileged container", img.Name, img.Hash[:12], img.Suite, serverVersion(tc)),
		nodes:     map[string]*ctNode{}, networks: map[string]string{}}
	if member != "" {
		e.userspace += " (placed on member " + member + ")"
	}
	e.prepCtx, e.prepCancel = context.WithCancel(context.WithoutCancel(ctx))
	e.mu.Lock()
	e.ahead = []*slot{e.spawnSlotLocked()} // the first node's container
	e.mu.Unlock()
	p.guessNext(e)
	return e, nil
}

// takeBases removes from the provider's record, and returns, the bases
// keep selects.
func (p *Provider) takeBases(keep func(string) bool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for b := range p.bases {
		if keep(b) {
			out = append(out, b)
			delete(p.bases, b)
		}
	}
	sort.Strings(out)
	return out
}

// Shutdown closes the environments made ahead that no cell took
// (nextcell.go), waits for the closed cells' deletions (WaitTeardowns), then
// removes the base instances of the run's images when the run ends:
// nothing of a run stays in LXD but the imported node images, a cache like
// the image directories.
func (p *Provider) Shutdown(ctx context.Context) error {
	p.dropNext()
	errs := []error{p.WaitTeardowns(ctx)}
	bases := p.takeBases(func(string) bool { return true })
	if len(bases) == 0 {
		return errors.Join(errs...)
	}
	c, err := p.client(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, b := range bases {
		errs = append(errs, deleteInstance(c, b))
	}
	return errors.Join(errs...)
}
