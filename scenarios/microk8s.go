package scenarios

import (
	"context"
	"fmt"
	"strings"

	"lab/harness/execx"
	"lab/harness/iptables"
)

func init() {
	register(Def{Subject: "microk8s", Pattern: `^MicroK8s is stopped on "([^"]+)"$`,
		Doc:     "Runs `microk8s stop` as the profile's release does it (microk8s.stop in the profile: whether containers are removed without a CNI DEL, which chains are flushed).",
		Example: `When MicroK8s is stopped on "node1"`,
		bind:    func(w *World) any { return w.stopped }})
	register(Def{Subject: "microk8s", Pattern: `^MicroK8s is started on "([^"]+)"$`,
		Doc:     "Runs `microk8s start`: removed pod sandboxes are recreated (new container IDs, CNI ADD), kept ones get their containers back.",
		Example: `When MicroK8s is started on "node1"`,
		bind:    func(w *World) any { return w.started }})
	register(Def{Subject: "microk8s", Pattern: `^I run "(.+)" on "([^"]+)"$`,
		Doc:     "Runs a command on a node (or client) as root, e.g. a workaround. `iptables`, `iptables-save`, ... resolve to the profile's variant; `iptables-legacy`/`iptables-nft` name one explicitly. Words split like a shell (double quotes group). The output is kept as evidence; a non-zero exit fails the step.",
		Example: `When I run "iptables-legacy -t nat -F CNI-HOSTPORT-DNAT" on "node1"`,
		bind:    func(w *World) any { return w.run }})
}

func (w *World) stopped(ctx context.Context, node string) error {
	n, err := w.node(node)
	if err != nil {
		return err
	}
	return n.Stop(ctx)
}

func (w *World) started(ctx context.Context, node string) error {
	n, err := w.node(node)
	if err != nil {
		return err
	}
	return n.Start(ctx)
}

func (w *World) run(ctx context.Context, command, on string) error {
	argv, err := iptables.SplitArgs(command)
	if err != nil || len(argv) == 0 {
		return fmt.Errorf("cannot split command %q: %v", command, err)
	}
	var r execx.Runner
	if n, ok := w.Cluster.Node(on); ok {
		r = n
	} else if r, err = w.host(on); err != nil {
		return err
	}
	res, err := r.Run(ctx, execx.Cmd{Argv: argv})
	out := strings.TrimSpace(string(res.Stdout) + string(res.Stderr))
	w.Evidence(fmt.Sprintf("%s on %s", command, on), out)
	return err
}
