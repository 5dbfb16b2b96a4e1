// Package provider defines where nodes run. A provider boots nodes (MicroK8s
// nodes, clients, gateways) for one cell and wires them onto networks;
// everything it creates carries the cell's prefix and is removed by
// Env.Close. The lifecycle a crashed or kept run needs (list what is left of
// a prefix, remove it, enter a node) also goes through the provider, so
// `lab clean` and `lab shell` work on every provider.
package provider

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"lab/harness/kernel"
	"lab/harness/node"
	"lab/harness/profile"
)

// Env is the set of nodes and networks of one cell.
type Env interface {
	// AddNode boots a node named name.
	AddNode(ctx context.Context, name string) (node.Node, error)
	// Node returns a booted node by name.
	Node(name string) (node.Node, bool)
	// Connect attaches n to the named L2 network (created on first use)
	// through an interface ifname with the given address.
	Connect(ctx context.Context, n node.Node, network, ifname string, addr netip.Prefix) error
	// Close tears everything down. It is idempotent.
	Close(ctx context.Context) error
}

// Provider creates cell environments and manages what runs leave behind.
type Provider interface {
	Name() string
	// Check returns an *UnavailableError when the provider cannot run here.
	Check(ctx context.Context) error
	// NewEnv starts an empty environment whose resources carry prefix.
	NewEnv(ctx context.Context, prefix string) (Env, error)
	// Leftovers lists the resources whose names start with prefix (a run's
	// or a cell's), for `lab clean` and tests.
	Leftovers(ctx context.Context, prefix string) ([]string, error)
	// Remove removes every resource whose name starts with prefix.
	Remove(ctx context.Context, prefix string) error
	// Shell returns the command line that runs a command inside node name
	// of the environment with that prefix (append the command to it), for
	// `lab shell` on a kept cell.
	Shell(ctx context.Context, prefix, name string) ([]string, error)
}

// Userspacer is implemented by providers that can say which userspace
// their nodes run (the netns provider: the host's own binaries); the
// runner records it in every cell's environment.
type Userspacer interface {
	Userspace() string
}

// ImageProvider is implemented by providers whose nodes boot a node image
// (docker, lxd; a recipe in images/recipes, `lab images`): the runner
// starts a cell's environment with the profile's image ("" for the
// provider's default) instead of NewEnv. An Env that implements Userspacer
// says which image it runs; the cell records that.
type ImageProvider interface {
	NewImageEnv(ctx context.Context, prefix, image string) (Env, error)
}

// UnavailableError says a provider cannot run on this machine; cells on it
// are skipped with Reason.
type UnavailableError struct {
	Provider string
	Reason   string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("provider %s unavailable: %s", e.Provider, e.Reason)
}

// ProfileEnver is implemented by providers whose nodes depend on the cell's
// profile (the node image they boot, a kernel profile made real in the
// node's own kernel): the runner calls NewProfileEnv instead of NewEnv.
type ProfileEnver interface {
	NewProfileEnv(ctx context.Context, prefix string, prof *profile.Profile) (Env, error)
}

// KernelHider is implemented by environments whose nodes run a kernel of
// their own: byKernel are the profile's missing extensions that kernel
// itself lacks (the provider removed them), byLibrary the rest, which the
// driver still hides with the kernel-profile library. The cell records both.
type KernelHider interface {
	KernelHides() (byKernel, byLibrary []kernel.Hidden)
}

// SlowBooter is implemented by providers whose nodes take minutes to boot
// (VMs): the runner adds BootAllowance to every cell's timeout.
type SlowBooter interface {
	BootAllowance() time.Duration
}

// Shutdowner is implemented by providers that keep resources across the
// cells of a run (VMs booted once per run); the CLI calls Shutdown when the
// run ends.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// EnvDescriber is implemented by environments with facts of their own to
// record in the cell's environment (which VM served a node, its boot).
type EnvDescriber interface {
	Describe() map[string]string
}
