package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"lab/harness/execx"
)

func init() {
	register(Def{Subject: "firewall", Pattern: `^firewalld is reloaded on "([^"]+)" before kube-proxy re-syncs as "([^"]+)"$`,
		Params:        []Param{P("node", Name), P("observation", Name)},
		Doc:           "Reloads the node's firewalld as `firewall-cmd --reload` does (its D-Bus reload method, which returns once firewalld has re-applied its configuration; called with dbus-send, without firewall-cmd's Python start) (a profile with firewalld.enabled runs the real daemon in the node, with a private D-Bus) while kube-proxy's canary monitor is held, so the steps that follow see the window a real kube-proxy leaves until its next check (up to its 30 s sync period). Checks first that kube-proxy's canary chain and KUBE-SERVICES are in the node's nat table (the profile's iptables variant; an error otherwise), then records NAME = flushed when they are gone right after the reload, kept otherwise (both tables are evidence). firewalld flushes iptables-nft tables only: kube-proxy's rules survive when they are legacy (MicroK8s' bundled iptables). `I run \"firewall-cmd ...\" on \"node1\"` also reaches the node's own firewalld; without this step the monitor re-syncs on its own.",
		Example:       `When firewalld is reloaded on "node1" before kube-proxy re-syncs as "kube_proxy_rules_after_reload"`,
		iptablesProxy: always,
		bind:          func(w *World) any { return w.reloadFirewalld }})
	register(Def{Subject: "firewall", Pattern: `^kube-proxy re-syncs on "([^"]+)"$`,
		Params:        []Param{P("node", Name)},
		Doc:           "Lets the node's kube-proxy react again (after `... before kube-proxy re-syncs`) and waits until its canary chain is back: at once when its rules were never flushed, else after its monitor noticed the flush (the real one polls every sync period, 30 s) and re-synced every Service. The time it took, its log and the nat table afterwards are evidence.",
		Example:       `When kube-proxy re-syncs on "node1"`,
		iptablesProxy: always,
		bind:          func(w *World) any { return w.kubeProxyResyncs }})
	register(Def{Subject: "firewall", Pattern: `^I trace a TCP connection from pod "([^"]+)" to pod "([^"]+)" on "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("from pod", Name), P("to pod", Name), P("node", Name), P("observation", Name)},
		cell:    podToPod,
		Doc:     "Connects from the first pod to the second pod's IPv4 address and port while nftables traces the SYN through the node's ruleset (`meta nftrace set 1` in a temporary table, `nft monitor trace`). Records NAME = the rule that dropped or rejected it, as \"FAMILY TABLE CHAIN: RULE\" (e.g. firewalld's zone reject), or none when no nftables rule did (iptables-legacy rules are not traced); NAME_connect = what the sender saw. The trace and the deciding chain are evidence.",
		Example: `When I trace a TCP connection from pod "ingress" to pod "zeus" on "node1" as "pod_ip_rejected_by"`,
		bind:    func(w *World) any { return w.trace }})
}

func (w *World) reloadFirewalld(ctx context.Context, node, obs string) error {
	d, ok := w.D.Firewalld(node)
	if !ok {
		return fmt.Errorf("node %q runs no firewalld: its profile %s has firewalld.enabled false", node, w.D.Profile().Name)
	}
	k, running := w.D.KubeProxy(node)
	if running {
		k.Pause()
	}
	if err := w.kubeProxyBaseline(ctx, node, obs, "the reload"); err != nil {
		return err
	}
	out, err := d.Reload(ctx)
	w.Evidence("firewall-cmd --reload on "+node+" (firewalld "+d.Version()+"; its D-Bus call, org.fedoraproject.FirewallD1.reload, made with dbus-send)", out)
	if err != nil {
		return err
	}
	return w.kubeProxyRulesState(ctx, node, obs, "the reload")
}

func (w *World) kubeProxyResyncs(ctx context.Context, node string) error {
	k, ok := w.D.KubeProxy(node)
	if !ok {
		return fmt.Errorf("no kube-proxy on %q; add `Given kube-proxy runs on %q` first", node, node)
	}
	before := k.Restores()
	waited, err := k.Resume(ctx)
	if err != nil {
		return fmt.Errorf("kube-proxy on %s: %w", node, err)
	}
	n2, serr := k.Syncs()
	ev := fmt.Sprintf("kube-proxy %s on %s: canary present %s after its monitor resumed (it polls every sync period, 30 s); %d sync(s) meanwhile, %d in all, last error: %v\n",
		k.Release(), node, waited.Round(time.Millisecond), k.Restores()-before, n2, serr)
	w.Evidence("kube-proxy re-sync on "+node, ev)
	w.Evidence("kube-proxy "+k.Release()+" on "+node+": log (klog) after the re-sync", k.Log())
	return w.natEvidence(ctx, node, "kube-proxy on "+node+": nat table after the re-sync")
}

func (w *World) trace(ctx context.Context, from, to, node, obs string) error {
	n, err := w.runner(node)
	if err != nil {
		return err
	}
	src, ok := w.D.Pod(from)
	if !ok || src.HostIface == "" {
		return fmt.Errorf("no pod %q on a Calico node in this scenario", from)
	}
	if src.Node != node {
		return fmt.Errorf("pod %q runs on %q, not %q: trace on the sender's node", from, src.Node, node)
	}
	dst, ok := w.D.Pod(to)
	if !ok {
		return fmt.Errorf("no pod %q in this scenario", to)
	}
	sa, ok1 := src.Addr(4)
	da, ok2 := dst.Addr(4)
	if !ok1 || !ok2 || dst.Port == 0 {
		return fmt.Errorf("trace from %s to %s: both need an IPv4 address and %s a port it serves", from, to, to)
	}
	tr, err := w.D.TraceTCP(ctx, from, sa, netip.AddrPortFrom(da, uint16(dst.Port)))
	if err != nil {
		return err
	}
	verdict := tr.Verdict
	if verdict == "" {
		verdict = "none"
	}
	w.Observe(obs, verdict)
	w.Observe(obs+"_connect", tr.Connect)
	w.Evidence(fmt.Sprintf("%s: nft trace of a SYN %s -> %s:%d on %s", obs, sa, da, dst.Port, node), strings.Join(tr.Lines, "\n")+"\n(trace read until "+tr.Ended+")")
	if f := strings.Fields(tr.Verdict); len(f) >= 3 {
		chain := strings.TrimSuffix(f[2], ":")
		if out, err := execx.Output(ctx, n, "nft", "-a", "list", "chain", f[0], f[1], chain); err == nil {
			w.RuleDump(fmt.Sprintf("%s: the deciding chain (nft -a list chain %s %s %s)", obs, f[0], f[1], chain), out)
		}
	}
	return nil
}

// always is the iptablesProxy rule of steps that always need kube-proxy's
// iptables mode.
func always([]string) bool { return true }
