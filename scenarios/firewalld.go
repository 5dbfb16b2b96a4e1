package scenarios

import (
	"context"
	"fmt"

	"lab/harness/execx"
	"lab/harness/iptables"
	"lab/harness/kubeproxy"
)

func init() {
	register(Def{Subject: "firewall", Pattern: `^firewalld is (stopped|started) on "([^"]+)"( before kube-proxy re-syncs)?(?: as "([^"]+)")?$`,
		Params:  []Param{P("action", Text), P("node", Name), Opt("hold kube-proxy", Text), Opt("observation", Name)},
		Doc:     "Stops a node's firewalld as `systemctl stop firewalld` does (SIGTERM: it removes its own rules on exit, with its D-Bus), or starts it again (a fresh daemon applying its configuration, and whatever its start does to iptables' tables). With `before kube-proxy re-syncs`, kube-proxy's canary monitor is held first, as for `firewalld is reloaded`, so the next steps see the window until `kube-proxy re-syncs on`. With `as \"NAME\"`, checks first that kube-proxy's canary chain and KUBE-SERVICES are in the nat table (an error otherwise), then records NAME = flushed when they are gone right after, kept otherwise (both tables are evidence).",
		Example: `When firewalld is started on "node1" before kube-proxy re-syncs as "kube_proxy_rules_after_start"`,
		// holding kube-proxy or checking its rules: its iptables canary
		iptablesProxy: func(args []string) bool { return args[2] != "" || args[3] != "" },
		bind:          func(w *World) any { return w.firewalldLifecycle }})
}

func (w *World) firewalldLifecycle(ctx context.Context, action, node, hold, obs string) error {
	if hold != "" {
		if k, running := w.D.KubeProxy(node); running {
			k.Pause()
		}
	}
	if obs != "" {
		if err := w.kubeProxyBaseline(ctx, node, obs, "firewalld is "+action); err != nil {
			return err
		}
	}
	var err error
	if action == "stopped" {
		err = w.D.StopFirewalld(ctx, node)
	} else {
		err = w.D.StartFirewalld(ctx, node)
	}
	if err != nil {
		return err
	}
	if d, ok := w.D.Firewalld(node); ok {
		w.Evidence(fmt.Sprintf("firewalld %s on %s (firewalld %s): its log", action, node, d.Version()), d.Log())
	}
	if obs == "" {
		return nil
	}
	return w.kubeProxyRulesState(ctx, node, obs, "firewalld "+action)
}

// kubeProxyChains reads whether kube-proxy's canary chain and
// KUBE-SERVICES are in the node's nat table (profile's variant), attaching
// the table as a rule dump named NAME: WHEN.
func (w *World) kubeProxyChains(ctx context.Context, node, obs, when string) (bool, error) {
	n, err := w.runner(node)
	if err != nil {
		return false, err
	}
	save := iptables.Binary("iptables-save", w.D.Profile().Iptables.Mode)
	dump, err := execx.Output(ctx, n, save, "-t", "nat")
	if err != nil {
		return false, err
	}
	w.RuleDump(obs+": nat table "+when+" ("+save+" -t nat)", dump)
	d, err := iptables.Parse(dump)
	if err != nil {
		return false, fmt.Errorf("parse %s output: %w", save, err)
	}
	return d.Chain("nat", kubeproxy.CanaryChain) != nil || d.Chain("nat", "KUBE-SERVICES") != nil, nil
}

// kubeProxyBaseline checks, before an action that may flush them, that
// kube-proxy's rules are there: an observation of what the action did to
// them means nothing otherwise.
func (w *World) kubeProxyBaseline(ctx context.Context, node, obs, action string) error {
	present, err := w.kubeProxyChains(ctx, node, obs, "right before "+action)
	if err != nil {
		return err
	}
	if !present {
		return fmt.Errorf("%s: kube-proxy's rules (%s, KUBE-SERVICES) are not in %s's nat table before %s; start kube-proxy first (`Given kube-proxy runs on %q`)", obs, kubeproxy.CanaryChain, node, action, node)
	}
	return nil
}

// kubeProxyRulesState records NAME = flushed when kube-proxy's canary chain
// and KUBE-SERVICES, there before (kubeProxyBaseline), are gone from the
// node's nat table (profile's variant), kept otherwise; both tables are
// rule dumps.
func (w *World) kubeProxyRulesState(ctx context.Context, node, obs, after string) error {
	present, err := w.kubeProxyChains(ctx, node, obs, "right after "+after)
	if err != nil {
		return err
	}
	state := "kept"
	if !present {
		state = "flushed"
	}
	w.Observe(obs, state)
	return nil
}
