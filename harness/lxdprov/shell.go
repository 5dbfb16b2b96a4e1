package lxdprov

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// Shell returns `lxc exec INSTANCE --` for the node (with the daemon's
// LXD_DIR), so `lab shell` and `lab inspect --node` enter it.
func (p *Provider) Shell(ctx context.Context, prefix, name string) ([]string, error) {
	if p.opts.Remote.URL != "" {
		return nil, fmt.Errorf("lxd: lab shell enters nodes of the local daemon only; use `lxc exec REMOTE:%s -- sh`", instanceName(prefix, name))
	}
	c, err := p.client(ctx)
	if err != nil {
		return nil, err
	}
	inst, err := nodeInstance(c, prefix, name)
	if err != nil {
		return nil, err
	}
	return []string{"env", "LXD_DIR=" + filepath.Dir(p.opts.Remote.SocketPath()), "lxc", "exec", inst, "--"}, nil
}

// nodeInstance finds the instance of node name in the cell prefix by its
// user.lab.node (set on a VM when created, on a container when its first
// NIC is added: its instance is named by its slot).
func nodeInstance(c lxd.InstanceServer, prefix, name string) (string, error) {
	insts, err := c.GetInstances(api.InstanceTypeAny)
	if err != nil {
		return "", fmt.Errorf("lxd: node %s of %s: %w", name, prefix, err)
	}
	var names []string
	for _, i := range insts {
		if i.Config["user.lab.prefix"] != prefix {
			continue
		}
		if i.Config["user.lab.node"] == name {
			return i.Name, nil
		}
		if n := i.Config["user.lab.node"]; n != "" {
			names = append(names, n)
		}
	}
	return "", fmt.Errorf("lxd: cell %s has no node %s (its connected nodes: %v)", prefix, name, names)
}

// instanceName is the LXD name of node name in the cell prefix: LXD allows
// letters, digits and dashes.
func instanceName(prefix, name string) string {
	b := []byte(strings.ToLower(name))
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			b[i] = '-'
		}
	}
	return prefix + "-" + string(b)
}
