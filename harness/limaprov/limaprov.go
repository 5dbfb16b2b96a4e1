// Package limaprov is the lima provider: every node is a real VM with its
// own kernel, a Lima instance (limactl, run as the unprivileged user
// lab-lima: limactl refuses root) booting the VM variant of the profile's
// node image (image.VM: Debian's cloud kernel booted directly, cloud-init,
// Lima's guest agent baked in) under QEMU with TCG. A VM boots once per run
// and image and serves the run's cells one after another: between cells
// it is reset (reset in node.go), never rebooted. A kernel profile's
// missing extensions are removed from the VM's kernel (modules deleted,
// depmod) so the kernel itself answers; what a module removal cannot
// express (one family of a module serving both) stays with the
// kernel-profile library inside the VM, and the cell records which
// mechanism hid what (KernelHides).
package limaprov

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"lab/harness/execx"
	"lab/harness/image"
	"lab/harness/kernel"
	"lab/harness/locate"
	"lab/harness/node"
	"lab/harness/profile"
	"lab/harness/provider"
)

// DefaultImage is the recipe whose VM variant nodes boot when the profile
// names no image.
const DefaultImage = "debian-bookworm"

// vmRSS is what one VM costs in host memory (QEMU under TCG, measured
// ~1.2 GB RSS), with headroom.
const vmRSS = 1536 << 20

// BootAllowance is added to a cell's timeout on this provider: the cell that
// boots a VM (and, on first use, builds its image) waits for it.
const BootAllowance = 20 * time.Minute

// Provider is the lima provider. Its VMs outlive cells: Shutdown removes
// them at the end of a run.
type Provider struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a VM is released or removed
	t       *tools
	run     string // the run's prefix: VM names start with it
	seq     int
	booting int
	all     map[string]*vm
	idle    map[string][]*vm // by image directory
	disks   map[string]*vmDisk
	mods    map[string]modIndex
	lent    map[string]*vm // CELLPREFIX/NODE -> its VM
	maxVMs  int
	// Boots records every boot of the run (for the report).
	Boots []BootRecord
}

// BootRecord is one VM boot.
type BootRecord struct {
	VM       string
	Image    string
	Seconds  float64
	Degraded bool
}

// New returns the lima provider.
func New() provider.Provider { return NewProvider() }

// NewProvider returns the lima provider as its own type (for Shutdown).
func NewProvider() *Provider {
	return &Provider{changed: make(chan struct{}), all: map[string]*vm{}, idle: map[string][]*vm{},
		disks: map[string]*vmDisk{}, mods: map[string]modIndex{}, lent: map[string]*vm{}}
}

// Name is "lima".
func (*Provider) Name() string { return "lima" }

// Userspace says what lima nodes run.
func (*Provider) Userspace() string {
	return "the profile's node image (VM variant: Debian's cloud kernel, booted by Lima/QEMU TCG); a real VM per node"
}

// BootAllowance is the extra time a cell gets to boot its VMs.
func (*Provider) BootAllowance() time.Duration { return BootAllowance }

// Check says whether VMs can run here: root (to create the lima user and
// build disks), QEMU, the tools the disk build needs, and a built limactl.
func (*Provider) Check(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return &provider.UnavailableError{Provider: "lima", Reason: "needs root (it creates the lima user and builds VM disks); run as root"}
	}
	if err := execx.LookPath(map[string]string{"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils",
		"mkfs.ext4": "e2fsprogs", "debugfs": "e2fsprogs", "setpriv": "util-linux", "ssh": "openssh-client"}); err != nil {
		return &provider.UnavailableError{Provider: "lima", Reason: err.Error()}
	}
	if _, err := sourceDir(); err != nil {
		return &provider.UnavailableError{Provider: "lima", Reason: err.Error()}
	}
	return nil
}

var runSuffix = regexp.MustCompile(`-[0-9]+$`)

// NewEnv starts a cell on DefaultImage with no kernel profile.
func (p *Provider) NewEnv(ctx context.Context, prefix string) (provider.Env, error) {
	return p.NewProfileEnv(ctx, prefix, &profile.Profile{})
}

// NewProfileEnv starts a cell whose nodes boot the profile's image (its VM
// variant) with the profile's missing kernel extensions removed.
func (p *Provider) NewProfileEnv(ctx context.Context, prefix string, prof *profile.Profile) (provider.Env, error) {
	p.mu.Lock()
	if p.run == "" {
		p.run = runSuffix.ReplaceAllString(prefix, "")
	}
	if p.t == nil {
		t, err := install(ctx)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.t = t
	}
	if p.maxVMs == 0 {
		p.maxVMs = memoryVMs()
	}
	p.mu.Unlock()
	name := prof.Image
	if name == "" {
		name = DefaultImage
	}
	d, img, err := p.disk(ctx, name)
	if err != nil {
		return nil, err
	}
	return &env{p: p, prefix: prefix, image: img, disk: d, hidden: prof.Kernel.Hidden(),
		nodes: map[string]*vmNode{}, nets: map[string]netInfo{}}, nil
}

// disk builds (or reuses) the VM image of recipe name and its VM disk.
func (p *Provider) disk(ctx context.Context, name string) (*vmDisk, string, error) {
	root, err := locate.Root()
	if err != nil {
		return nil, "", err
	}
	r, err := image.Load(filepath.Join(root, "images", "recipes"), name+image.VMSuffix)
	if err != nil {
		return nil, "", err
	}
	store := &image.Store{Root: image.DefaultRoot}
	img, ok := store.Get(r)
	if !ok {
		if img, err = store.Build(ctx, r, image.Chroot{Runner: execx.Host{}}, os.Stderr); err != nil {
			return nil, "", err
		}
	}
	key := filepath.Base(img.Dir)
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.disks[key]; ok {
		return d, key, nil
	}
	d, err := makeDisk(ctx, img, p.t.guestAgent())
	if err != nil {
		return nil, "", err
	}
	p.disks[key] = d
	return d, key, nil
}

// memoryVMs is how many VMs fit in the memory available now (at least 1).
func memoryVMs() int {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 1
	}
	var kb int64
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
		}
	}
	if n := int(kb << 10 / vmRSS); n > 1 {
		return n
	}
	return 1
}

// acquire lends a VM of the image: an idle one, else a new one when memory
// allows (booted says so), else it waits for one to be released.
func (p *Provider) acquire(ctx context.Context, img string, d *vmDisk) (v *vm, booted bool, err error) {
	p.mu.Lock()
	for {
		if l := p.idle[img]; len(l) > 0 {
			v := l[len(l)-1]
			p.idle[img] = l[:len(l)-1]
			p.mu.Unlock()
			return v, false, nil
		}
		if len(p.all)+p.booting < p.maxVMs {
			break
		}
		if other := p.idleOther(img); other != nil {
			// Memory is full: an idle VM of another image makes room.
			p.mu.Unlock()
			_ = removeInstance(context.WithoutCancel(ctx), p.t, other.name)
			p.mu.Lock()
			continue
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false, fmt.Errorf("waiting for a VM (at most %d fit in memory): %w", p.maxVMs, ctx.Err())
		case <-ch:
		}
		p.mu.Lock()
	}
	p.seq++
	p.booting++
	name := fmt.Sprintf("%s-vm%d", p.run, p.seq)
	p.mu.Unlock()
	v, err = boot(ctx, p.t, d, name, img)
	p.mu.Lock()
	p.booting--
	if err == nil {
		p.all[name] = v
		p.Boots = append(p.Boots, BootRecord{VM: name, Image: img, Seconds: v.Boot.Seconds(), Degraded: v.Degraded})
		if _, ok := p.mods[img]; !ok {
			p.mu.Unlock()
			m, merr := v.modIndex(ctx)
			p.mu.Lock()
			if merr != nil {
				err = merr
			} else {
				p.mods[img] = m
			}
		}
	}
	p.notify()
	p.mu.Unlock()
	if err != nil {
		p.drop(context.WithoutCancel(ctx), name)
		return nil, false, err
	}
	return v, true, nil
}

// idleOther takes an idle VM of another image out of the pool (mu held).
func (p *Provider) idleOther(img string) *vm {
	for k, l := range p.idle {
		if k != img && len(l) > 0 {
			v := l[len(l)-1]
			p.idle[k] = l[:len(l)-1]
			delete(p.all, v.name)
			return v
		}
	}
	return nil
}

func (p *Provider) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// release resets a VM and puts it back in the pool, or removes it when
// the reset fails.
func (p *Provider) release(ctx context.Context, v *vm) error {
	if err := v.reset(ctx); err != nil {
		p.drop(ctx, v.name)
		return err
	}
	p.mu.Lock()
	p.idle[v.image] = append(p.idle[v.image], v)
	p.notify()
	p.mu.Unlock()
	return nil
}

// drop removes a VM from the pool and deletes its instance.
func (p *Provider) drop(ctx context.Context, name string) {
	p.mu.Lock()
	delete(p.all, name)
	p.notify()
	t := p.t
	p.mu.Unlock()
	if t != nil {
		_ = removeInstance(ctx, t, name)
	}
}

// Shutdown removes the run's idle VMs (a kept cell's VMs stay until `lab
// clean` or Remove).
func (p *Provider) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	var names []string
	for _, l := range p.idle {
		for _, v := range l {
			names = append(names, v.name)
			delete(p.all, v.name)
		}
	}
	p.idle = map[string][]*vm{}
	t := p.t
	p.mu.Unlock()
	var errs []error
	for _, n := range names {
		if err := removeInstance(ctx, t, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists the VMs whose names start with prefix and the nodes of
// cells with that prefix still holding a VM (PREFIX/NODE -> VM).
func (p *Provider) Leftovers(ctx context.Context, prefix string) ([]string, error) {
	out, err := instanceNames(prefix)
	if err != nil {
		return nil, err
	}
	lent, _ := filepath.Glob(filepath.Join(Home, "cells", prefix+"*", "*"))
	for _, f := range lent {
		vmName, _ := os.ReadFile(f)
		out = append(out, filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)+" -> "+strings.TrimSpace(string(vmName)))
	}
	sort.Strings(out)
	return out, nil
}

// Remove deletes the VMs whose names start with prefix and the VMs lent to
// cells with that prefix.
func (p *Provider) Remove(ctx context.Context, prefix string) error {
	t, err := install(ctx)
	if err != nil {
		return err
	}
	names, err := instanceNames(prefix)
	if err != nil {
		return err
	}
	cells, _ := filepath.Glob(filepath.Join(Home, "cells", prefix+"*"))
	for _, c := range cells {
		files, _ := filepath.Glob(filepath.Join(c, "*"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				names = append(names, strings.TrimSpace(string(b)))
			}
		}
	}
	var errs []error
	for _, n := range names {
		p.drop(ctx, n)
		if err := removeInstance(ctx, t, n); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range cells {
		if err := os.RemoveAll(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shell returns the command line entering node name of the cell with that
// prefix: SSH into its VM as the lima user, then sudo; the command appended
// is quoted for the remote shell.
func (p *Provider) Shell(ctx context.Context, prefix, name string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(Home, "cells", prefix, name))
	if err != nil {
		return nil, fmt.Errorf("cell %s has no VM for node %s (is it kept?): %w", prefix, name, err)
	}
	t, err := install(ctx)
	if err != nil {
		return nil, err
	}
	v := &vm{name: strings.TrimSpace(string(b)), t: t}
	ssh := execx.Quote(append(v.sshArgv("-t"), "sudo", "-n"))
	return []string{"env", "-u", "SSH_AUTH_SOCK", "LIMA_HOME=" + t.limaHome(), "bash", "-c", `q=$(printf '%q ' "$@"); exec ` + ssh + ` "$q"`, "lab-shell"}, nil
}

// KernelHides is implemented by the cell environment (see env.KernelHides).
var _ interface {
	KernelHides() (byKernel, byLibrary []kernel.Hidden)
} = (*env)(nil)

var _ node.Node = (*vmNode)(nil)
