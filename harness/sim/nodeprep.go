package sim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"lab/harness/execx"
	"lab/harness/iptables"
)

// EnvFile is the name of the file, in a node's state directory, holding the
// environment every process on the node gets (NodeEnv) plus the profile's
// identity, one KEY=VALUE per line. `lab inspect --node` reads it to look at
// a running node exactly as its components see it.
const EnvFile = "env"

// Variables EnvFile adds to NodeEnv, describing the node's profile.
const (
	EnvProfile       = "LAB_PROFILE"
	EnvKernelRelease = "LAB_KERNEL_RELEASE"
)

// prepareNode runs once when a node boots, before anything else uses it: it
// records the node's environment for `lab inspect --node` and applies the
// FORWARD policies the profile says the host's own tooling set
// (iptables.host_forward_policy), in the named variant, the profile's
// sysctls and its uplink MTU (nodeNetwork).
func (c *Cluster) prepareNode(ctx context.Context, n *Node) error {
	if err := c.nodeNetwork(ctx, n); err != nil {
		return err
	}
	lines := append([]string(nil), n.Env...)
	lines = append(lines, EnvProfile+"="+c.prof.Name)
	if c.prof.Kernel.Release != "" {
		lines = append(lines, EnvKernelRelease+"="+c.prof.Kernel.Release)
	}
	dir := filepath.Join(c.opts.StateDir, "nodes", n.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("node state %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, EnvFile), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("node state %s: %w", dir, err)
	}
	variants := make([]string, 0, len(c.prof.Iptables.HostForwardPolicy))
	for v := range c.prof.Iptables.HostForwardPolicy {
		variants = append(variants, v)
	}
	sort.Strings(variants)
	for _, v := range variants {
		pol := c.prof.Iptables.HostForwardPolicy[v]
		argv := []string{iptables.Binary("iptables", v), "-t", "filter", "-P", "FORWARD", pol}
		if _, err := n.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("host forward policy of profile %s: %w", c.prof.Name, err)
		}
	}
	return nil
}

// ReadEnvFile parses an EnvFile into its KEY=VALUE lines (blank lines and
// lines without "=" are skipped).
func ReadEnvFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read node environment: %w", err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "=") {
			out = append(out, l)
		}
	}
	return out, nil
}
