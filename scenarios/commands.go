package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"lab/harness/execx"
)

func init() {
	register(Def{Subject: "microk8s", Pattern: `^I run "(.+)" on "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("command", Command), P("host", Name), P("observation", Name)},
		Doc:     "Runs a command on a node (or client) as root with the node's environment, like `I run`, and records its result instead of judging it: NAME_exit = the exit status (0 success; 127 command not found; -1 it could not start) and NAME_output = stdout followed by stderr, trimmed. A failing command is an observation, never a lab error. The output is kept as evidence.",
		Example: `When I run "iptables -t nat -S CNI-HOSTPORT-DNAT" on "node1" as "dnat_rules"`,
		bind:    func(w *World) any { return w.runAs }})
	register(Def{Subject: "microk8s", Pattern: `^I run "(.+)" in pod "([^"]+)"(?: as "([^"]+)")?$`,
		Params:  []Param{P("command", Command), P("pod", Name), Opt("observation", Name)},
		Doc:     "Runs a command inside a pod's network namespace (on its node, with the node's programs and environment), e.g. `ip route` or `cat /proc/sys/net/ipv4/ip_forward`. Without `as`, a non-zero exit fails the step; with `as \"NAME\"` it records NAME_exit and NAME_output as `I run ... on ... as` does. The output is kept as evidence.",
		Example: `When I run "ip -4 route show" in pod "web" as "pod_routes"`,
		cell:    needPod(1),
		bind:    func(w *World) any { return w.runInPod }})
}

// needPod is the check rule of steps naming an existing pod in args[idx].
func needPod(idx int) func(*cellState, []string) string {
	return func(s *cellState, args []string) string {
		if _, ok := s.pods[args[idx]]; !ok {
			return fmt.Sprintf("no pod %q created before this step", args[idx])
		}
		return ""
	}
}

// runRecorded runs a command and records NAME_exit and NAME_output; only a
// cancelled cell is an error.
func (w *World) runRecorded(ctx context.Context, r execx.Runner, command, where, obs string) error {
	argv, err := ParseCommand(command)
	if err != nil {
		return err
	}
	res, err := r.Run(ctx, execx.Cmd{Argv: argv})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	code := 0
	out := string(res.Stdout) + string(res.Stderr)
	if err != nil {
		var xe *execx.Error
		if !errors.As(err, &xe) {
			return err
		}
		code = xe.ExitCode
		out = xe.Stdout + xe.Stderr
		if code < 0 && out == "" {
			out = xe.Err.Error()
		}
	}
	out = strings.TrimSpace(out)
	w.Observe(obs+"_exit", code)
	w.Observe(obs+"_output", out)
	w.Evidence(fmt.Sprintf("%s: %s %s (exit %d)", obs, command, where, code), out)
	return nil
}

func (w *World) runAs(ctx context.Context, command, on, obs string) error {
	r, err := w.runner(on)
	if err != nil {
		return err
	}
	return w.runRecorded(ctx, r, command, "on "+on, obs)
}

func (w *World) runInPod(ctx context.Context, command, pod, obs string) error {
	r, err := w.D.PodRunner(pod)
	if err != nil {
		return err
	}
	if obs != "" {
		return w.runRecorded(ctx, r, command, "in pod "+pod, obs)
	}
	argv, err := ParseCommand(command)
	if err != nil {
		return err
	}
	res, err := r.Run(ctx, execx.Cmd{Argv: argv})
	w.Evidence(fmt.Sprintf("%s in pod %s", command, pod), strings.TrimSpace(string(res.Stdout)+string(res.Stderr)))
	return err
}
