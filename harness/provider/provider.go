// Package provider defines where nodes run. A provider boots hosts (nodes,
// clients, gateways) for one cell and wires them onto networks; everything
// it creates carries the cell's prefix and is removed by Env.Close.
package provider

import (
	"context"
	"fmt"
	"net/netip"

	"lab/harness/execx"
)

// Host is one booted machine of a cell: a node, a client, a gateway.
// Commands run on it look the same whatever the provider.
type Host interface {
	execx.Runner
	// Name is the host's name in the feature (e.g. node1).
	Name() string
	// NetNS is the path of the host's network namespace on this machine, for
	// drivers that attach pods or open sockets in it.
	NetNS() string
}

// Env is the set of hosts and networks of one cell.
type Env interface {
	// AddHost boots a host.
	AddHost(ctx context.Context, name string) (Host, error)
	// Host returns a booted host by name.
	Host(name string) (Host, bool)
	// Connect attaches host to the named L2 network (created on first use)
	// through an interface ifname with the given address.
	Connect(ctx context.Context, h Host, network, ifname string, addr netip.Prefix) error
	// Route adds a route on h to dst via gw (dst "default" allowed).
	Route(ctx context.Context, h Host, dst string, gw netip.Addr) error
	// NewNamespace creates an extra network namespace owned by the cell
	// (e.g. a pod sandbox) and returns its path; Close removes it.
	NewNamespace(ctx context.Context, name string) (string, error)
	// DeleteNamespace removes a namespace made by NewNamespace.
	DeleteNamespace(ctx context.Context, name string) error
	// Close tears everything down. It is idempotent.
	Close(ctx context.Context) error
}

// Provider creates cell environments.
type Provider interface {
	Name() string
	// Check returns an *UnavailableError when the provider cannot run here.
	Check(ctx context.Context) error
	// NewEnv starts an empty environment whose resources carry prefix.
	NewEnv(ctx context.Context, prefix string) (Env, error)
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
