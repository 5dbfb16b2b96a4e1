package scenarios

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"lab/harness/execx"
)

func init() {
	register(Def{Subject: "microk8s", Pattern: `^MicroK8s is stopped on "([^"]+)"$`,
		Params:  []Param{P("node", Name)},
		Doc:     "Runs `microk8s stop` as the profile's release does it (microk8s.stop in the profile: whether containers are removed without a CNI DEL, which chains are flushed).",
		Example: `When MicroK8s is stopped on "node1"`,
		bind:    func(w *World) any { return w.stopped }})
	register(Def{Subject: "microk8s", Pattern: `^MicroK8s is stopped on "([^"]+)" without sudo as "([^"]+)"$`,
		Params:  []Param{P("node", Name), P("observation", Name)},
		Doc:     "Runs `microk8s stop` as the profile's release does it, by a user without sudo (upstream #5005): the chains the release flushes are flushed by an unprivileged process (nobody, via setpriv), whose failure stop ignores as the script does (`|| true`). Records NAME = what the flushes printed, e.g. `Fatal: can't open lock file /run/xtables.lock: Permission denied` (\"\" when the release flushes nothing).",
		Example: `When MicroK8s is stopped on "node1" without sudo as "stop_output"`,
		bind:    func(w *World) any { return w.stoppedWithoutSudo }})
	register(Def{Subject: "microk8s", Pattern: `^MicroK8s is started on "([^"]+)"$`,
		Params:  []Param{P("node", Name)},
		Doc:     "Runs `microk8s start`: removed pod sandboxes are recreated (new container IDs, CNI ADD), kept ones get their containers back.",
		Example: `When MicroK8s is started on "node1"`,
		bind:    func(w *World) any { return w.started }})
	register(Def{Subject: "microk8s", Pattern: `^I run "(.+)" on "([^"]+)"$`,
		Params:  []Param{P("command", Command), P("host", Name)},
		Doc:     "Runs a command on a node (or client) as root, e.g. a workaround. `iptables`, `iptables-save`, ... resolve to the profile's variant; `iptables-legacy`/`iptables-nft` name one explicitly. Words split like a shell (double quotes group). The output is kept as evidence; a non-zero exit fails the step.",
		Example: `When I run "iptables-legacy -t nat -F CNI-HOSTPORT-DNAT" on "node1"`,
		bind:    func(w *World) any { return w.run }})
}

func (w *World) stopped(ctx context.Context, node string) error {
	return w.D.StopMicroK8s(ctx, node)
}

func (w *World) stoppedWithoutSudo(ctx context.Context, node, obs string) error {
	out, err := w.D.StopMicroK8sWithoutSudo(ctx, node)
	if err != nil {
		return err
	}
	w.Observe(obs, out)
	w.Evidence("microk8s stop on "+node+" without sudo: its flushes", out)
	return nil
}

func (w *World) started(ctx context.Context, node string) error {
	if err := w.D.StartMicroK8s(ctx, node); err != nil {
		return err
	}
	// New sandboxes have new addresses: pod_ip_NAME follows them.
	w.mu.Lock()
	var names []string
	for k := range w.cell.Observations {
		if p, ok := strings.CutPrefix(k, "pod_ip_"); ok {
			names = append(names, p)
		}
	}
	w.mu.Unlock()
	sort.Strings(names)
	for _, name := range names {
		if p, ok := w.D.Pod(name); ok && p.Node == node && len(p.Addrs) == 1 {
			w.Observe("pod_ip_"+name, p.Addrs[0].String())
		}
	}
	return nil
}

func (w *World) run(ctx context.Context, command, on string) error {
	argv, err := ParseCommand(command)
	if err != nil {
		return err
	}
	r, err := w.runner(on)
	if err != nil {
		return err
	}
	res, err := r.Run(ctx, execx.Cmd{Argv: argv})
	out := strings.TrimSpace(string(res.Stdout) + string(res.Stderr))
	w.Evidence(fmt.Sprintf("%s on %s", command, on), out)
	return err
}
