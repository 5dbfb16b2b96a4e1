package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"lab/harness/execx"
	"lab/harness/inspect"
	"lab/harness/kernel"
	"lab/harness/netns"
	"lab/harness/provider"
	"lab/harness/runner"
	"lab/harness/sim"
)

func cmdInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stdout = safeWriter{stdout} // names and command output may hold escape codes
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	node := fs.String("node", "", "inspect a node of a running or kept cell: its namespace name (lab-RUN-CELL-h-NODE) or path, or its node name with --cell or when only one cell has it")
	cell := fs.String("cell", "", "with --node NODE: the kept cell (lab run --keep) the node belongs to")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	snapDir := fs.String("snap-dir", inspect.DefaultSnapDir, "MicroK8s' data directory, where Calico's cni.yaml says Felix's iptables backend")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: lab inspect [--node NODE] [--json]

Reports what MicroK8s networking depends on: which iptables variant
`+"`iptables`"+` is and which of legacy and nft hold rules (counts per table), the
FORWARD policy of each, Felix's iptables backend, the kernel release, and
whether each netfilter extension MicroK8s, Calico, flannel and kube-proxy use
is available per family (probed by adding a rule in a throwaway namespace
named lab-inspect-*, never in the inspected one), then one line per problem
found, with its fix. With --node it looks inside a running cell's node, with
the node's own environment (iptables variant, kernel profile).

Flags:
`)
		fs.PrintDefaults()
	}
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("inspect takes no arguments (got %q)", rest)
	}
	if os.Geteuid() != 0 {
		return usagef("inspect needs root (it reads the netfilter tables and probes extensions in a throwaway network namespace); run it with sudo")
	}
	o := inspect.Options{Target: "host", Runner: execx.Host{}, SnapDir: *snapDir}
	if v := os.Getenv(kernel.EnvVar); v != "" {
		o.KernelProfile = "this process hides " + v + " (" + kernel.EnvVar + ")"
	}
	if *cell != "" && *node == "" {
		return usagef("--cell needs --node NODE")
	}
	keptProvider := "netns" // a running cell's node named by namespace
	if *cell != "" {
		k, err := runner.LoadKept(*cell)
		if err != nil {
			return usagef("%v", err)
		}
		if !slices.Contains(k.Nodes, *node) {
			return usagef("kept cell %s has no node %q (nodes: %s)", k.Cell, *node, strings.Join(k.Nodes, ", "))
		}
		if k.Provider != "netns" {
			// Nodes of other providers are entered through the provider.
			if o, err = keptNodeOptions(ctx, k, *node, *snapDir); err != nil {
				return err
			}
			*node = ""
		} else {
			*node = k.Prefix + "-h-" + *node
		}
	}
	if *node != "" {
		prov, perr := providerByName(keptProvider)
		if perr != nil {
			return perr
		}
		if o, err = nodeOptions(ctx, prov, *node, *snapDir); err != nil {
			return err
		}
	}
	rep, err := inspect.Gather(ctx, o)
	if rep == nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil {
			return jerr
		}
	} else if rerr := inspect.Render(stdout, rep); rerr != nil {
		return rerr
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", o.Target, err)
	}
	return nil
}

// nodeOptions finds a running cell's node namespace and the environment its
// components run with (written by the sim driver when the node booted).
func nodeOptions(ctx context.Context, prov provider.Provider, arg, snapDir string) (inspect.Options, error) {
	path, name := arg, filepath.Base(arg)
	if prov.Name() != "netns" {
		// a kept cell's node on another provider: entered through it
	} else if !strings.Contains(arg, "/") {
		path = netns.Path(arg)
		if _, err := os.Stat(path); err != nil {
			all, lerr := netns.List(runner.NamespacePrefix)
			if lerr != nil {
				return inspect.Options{}, lerr
			}
			var match []string
			for _, n := range all {
				if _, _, nd, ok := inspect.NodeNamespace(n); ok && nd == arg {
					match = append(match, n)
				}
			}
			switch len(match) {
			case 0:
				return inspect.Options{}, usagef("no running node %q: no namespace %s and no lab-*-h-%s namespace (running: %s)", arg, path, arg, strings.Join(all, ", "))
			case 1:
				name, path = match[0], netns.Path(match[0])
			default:
				return inspect.Options{}, usagef("node %q is in several running cells; name one namespace: %s", arg, strings.Join(match, ", "))
			}
		}
	}
	if _, err := os.Stat(path); err != nil && prov.Name() == "netns" {
		return inspect.Options{}, usagef("node namespace %s: %v", path, err)
	}
	o := inspect.Options{Target: "node namespace " + name, SnapDir: snapDir}
	env, envPath := nodeEnv(name)
	o.KernelProfile = kernelProfileOf(env, envPath)
	o.Env = env
	run, cell, nd, ok := inspect.NodeNamespace(name)
	if !ok {
		return inspect.Options{}, usagef("%s is not a lab node (lab-RUN-CELL-h-NODE)", name)
	}
	r, err := runner.Enter(ctx, prov, "lab-"+run+"-"+cell, nd, env)
	if err != nil {
		return inspect.Options{}, fmt.Errorf("enter node %s: %w", name, err)
	}
	o.Runner = r
	return o, nil
}

// keptNodeOptions inspects node of a kept cell of a provider other than
// netns, entered with the provider's Shell.
func keptNodeOptions(ctx context.Context, k *runner.Kept, node, snapDir string) (inspect.Options, error) {
	prov, err := providerByName(k.Provider)
	if err != nil {
		return inspect.Options{}, err
	}
	env, envPath := nodeEnv(k.Prefix + "-h-" + node)
	r, err := runner.Enter(ctx, prov, k.Prefix, node, env)
	if err != nil {
		return inspect.Options{}, fmt.Errorf("enter node %s of %s: %w", node, k.Cell, err)
	}
	return inspect.Options{Target: k.Provider + " node " + node + " of " + k.Cell, SnapDir: snapDir,
		Env: env, Runner: r, KernelProfile: kernelProfileOf(env, envPath)}, nil
}

// kernelProfileOf describes the profile and kernel profile a node's
// environment (read from envPath) runs with.
func kernelProfileOf(env []string, envPath string) string {
	var kp string
	if env == nil {
		kp = "node environment not found (" + envPath + "); inspected with lab's own environment"
	} else {
		vals := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			vals[k] = v
		}
		kp = fmt.Sprintf("profile %s", vals[sim.EnvProfile])
		if r := vals[sim.EnvKernelRelease]; r != "" {
			kp += ", kernel profile " + r
		}
		if h := vals[kernel.EnvVar]; h != "" {
			kp += ", hiding " + h
		} else {
			kp += ", hiding nothing"
		}
	}
	return kp
}

// nodeEnv returns the environment lab runs commands with on the node whose
// namespace is name: a kept cell's (kept.json, paths moved with the cell)
// or a running cell's (the node's env file in the run's state), plus the
// profile's identity from the env file; and where it looked.
func nodeEnv(name string) ([]string, string) {
	run, cell, node, ok := inspect.NodeNamespace(name)
	if !ok {
		return nil, name + " is not a lab node namespace (lab-RUN-CELL-h-NODE)"
	}
	prefix := "lab-" + run + "-" + cell
	keptDir := filepath.Join(runner.KeptDir, prefix)
	if data, err := os.ReadFile(filepath.Join(keptDir, "kept.json")); err == nil {
		var k runner.Kept
		if json.Unmarshal(data, &k) == nil && k.Env[node] != nil {
			env := append([]string(nil), k.Env[node]...)
			ident, _ := sim.ReadEnvFile(filepath.Join(keptDir, "nodes", node, sim.EnvFile))
			for _, kv := range ident {
				if strings.HasPrefix(kv, sim.EnvProfile+"=") || strings.HasPrefix(kv, sim.EnvKernelRelease+"=") {
					env = append(env, kv)
				}
			}
			return env, filepath.Join(keptDir, "kept.json")
		}
	}
	path := filepath.Join(runner.StateRoot, run, cell, "nodes", node, sim.EnvFile)
	env, err := sim.ReadEnvFile(path)
	if err != nil {
		return nil, path
	}
	return env, path
}
