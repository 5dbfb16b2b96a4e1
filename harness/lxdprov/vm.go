package lxdprov

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"lab/harness/execx"
	"lab/harness/node"
	"lab/harness/profile"
	"lab/harness/provider"

	"github.com/canonical/lxd/shared/api"
)

// VM mode (real infrastructure only): every node is an LXD virtual machine
// booted from the profile's vm.image, with its limits, and cloud-init
// user-data that installs snapd, the pinned kernel package and
// vm.packages, points GRUB at the pinned kernel and reboots into it. A
// node is ready when LXD's agent answers exec in the VM, the VM runs the
// pinned kernel in a boot begun after GRUB's default was set to it, and
// `cloud-init status --wait` reports done. Commands and files then go through LXD's
// exec and file APIs (lxd-agent), as for containers; cell networks are
// extra bridged NICs, as for containers.

// VMBootAllowance is added to a cell's timeout in VM mode: the first boot
// installs packages from the archive and reboots.
const VMBootAllowance = 15 * time.Minute

// vmPoll is how often a booting VM is asked whether it is ready.
const vmPoll = 2 * time.Second

// NewVM returns the LXD provider in VM mode on the local daemon (the
// `lxd-vm` provider of lab run).
func NewVM() provider.Provider { return NewWith(Options{InstanceType: VirtualMachine}) }

// vmProvider is the provider in VM mode: cells boot from the profile
// (NewProfileEnv), not from a node image.
type vmProvider struct{ *Provider }

// Name is "lxd-vm".
func (*vmProvider) Name() string { return "lxd-vm" }

// BootAllowance is VMBootAllowance.
func (*vmProvider) BootAllowance() time.Duration { return VMBootAllowance }

// NewProfileEnv starts a cell whose nodes are VMs of prof's vm fields.
func (p *vmProvider) NewProfileEnv(ctx context.Context, prefix string, prof *profile.Profile) (provider.Env, error) {
	if !prof.VM.Enabled() {
		return nil, fmt.Errorf("lxd-vm: profile %s pins no VM: set vm.image (e.g. ubuntu:24.04) in %s", prof.Name, prof.File)
	}
	c, pool, err := p.clientPool(ctx)
	if err != nil {
		return nil, err
	}
	kernel := "the image's kernel"
	if prof.VM.KernelPackage != "" {
		kernel = prof.VM.KernelPackage
	}
	local := p.opts.Remote.URL == ""
	return &vmEnv{
		env: &env{c: c, root: c, release: func() {}, prefix: prefix, local: local,
			userspace: fmt.Sprintf("LXD VM of %s booted into %s, %s", prof.VM.Image, kernel, serverVersion(c)),
			nodes:     map[string]*ctNode{}, networks: map[string]string{}},
		prof: prof, pool: pool, cloudInit: c.HasExtension("cloud_init"),
	}, nil
}

// vmEnv is a cell of VM nodes: env's networks, Node and Close, its own
// AddNode.
type vmEnv struct {
	*env
	prof      *profile.Profile
	pool      string
	cloudInit bool // the daemon has the cloud_init API extension (the client already targets Remote.Target)
}

// AddNode creates and starts a VM node and waits until it is ready (see
// the VM mode comment above).
func (e *vmEnv) AddNode(ctx context.Context, name string) (node.Node, error) {
	inst, err := e.reserve(name)
	if err != nil {
		return nil, err
	}
	req, err := vmRequest(e.prof, e.prefix, name, inst, e.pool, e.cloudInit)
	if err != nil {
		return nil, err
	}
	op, err := e.c.CreateInstance(req)
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("lxd: create VM node %s (%s from %s): %w", name, inst, e.prof.VM.Image, err)
	}
	op, err = e.c.UpdateInstanceState(inst, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("lxd: start VM node %s (%s): %w", name, inst, err)
	}
	n := &ctNode{c: e.c, name: name, instance: inst}
	if err := waitVM(ctx, n, e.prof.VM.KernelRelease(), vmPoll); err != nil {
		return nil, fmt.Errorf("lxd: VM node %s (%s): %w", name, inst, err)
	}
	e.mu.Lock()
	e.nodes[name] = n
	e.mu.Unlock()
	return n, nil
}

// bootCheck prints, in a VM: the running kernel release, the boot's
// start (btime of /proc/stat) and the time lab-boot-kernel set GRUB's
// default (its file's mtime, 0 before).
const bootCheck = `uname -r; awk '/^btime/ {print $2}' /proc/stat; stat -c %Y ` + grubDefaultFile + ` 2>/dev/null || echo 0`

// grubDefaultFile is what lab-boot-kernel writes before cloud-init reboots.
const grubDefaultFile = "/etc/default/grub.d/99-lab-kernel.cfg"

// bootState asks a VM for its kernel release and whether this boot began
// after GRUB's default was set to the pinned kernel (the reboot into it);
// an error while LXD's agent in the VM does not answer (booting).
func bootState(ctx context.Context, n node.Node) (release string, rebooted bool, err error) {
	res, err := n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", bootCheck}})
	if err != nil {
		return "", false, err
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) != 3 {
		return "", false, fmt.Errorf("boot check printed %q", res.Stdout)
	}
	btime, err1 := strconv.ParseInt(f[1], 10, 64)
	set, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return "", false, fmt.Errorf("boot check printed %q", res.Stdout)
	}
	return f[0], set > 0 && btime > set, nil
}

// waitVM waits until the VM's agent answers and, with a pinned kernel
// release, until the VM runs a boot begun after lab-boot-kernel set
// GRUB's default (cloud-init's reboot; a VM first reached after it counts
// too), on that release; then until cloud-init is done. Another release
// after the reboot, or cloud-init's failure, is the error.
func waitVM(ctx context.Context, n node.Node, release string, poll time.Duration) error {
	var lastErr string
	var seen []string
	for {
		rel, rebooted, err := bootState(ctx, n)
		if err != nil {
			lastErr = err.Error()
		} else if !contains(seen, rel) {
			seen = append(seen, rel)
		}
		if err == nil && (release == "" || rebooted && rel == release) {
			break
		}
		if err == nil && rebooted && rel != release {
			return fmt.Errorf("rebooted into kernel %s, not the pinned %s (vm.kernel_package linux-image-%s): GRUB did not take lab-boot-kernel's default", rel, release, release)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready (kernels seen %v, want %q; last exec error: %s): %w", seen, release, lastErr, ctx.Err())
		case <-time.After(poll):
		}
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"cloud-init", "status", "--wait"}}); err != nil {
		long, _ := n.Run(ctx, execx.Cmd{Argv: []string{"cloud-init", "status", "--long"}})
		return fmt.Errorf("cloud-init failed: %w\n%s", err, long.Stdout)
	}
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
