package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	"lab/harness/driver"
	"lab/harness/execx"
	"lab/harness/felix"
)

func init() {
	register(Def{Subject: "calico", Pattern: `^a Calico node "([^"]+)" with pod CIDRs "([^"]+)"$`,
		Params:  []Param{P("node", Name), P("pod CIDRs", Pools)},
		cell:    addHost("calico"),
		Doc:     "Boots a MicroK8s node with the cell's profile (as `a node`) whose pods are on Calico's routed network: a cali* veth per pod with proxy ARP and a /32 or /128 route, pod addresses from the node's block of each pool (comma list, at most one per family). Forwarding is on for each family given; with no IPv6 pool, IPv6 is disabled on the node (the reports' workaround). Each node gets the next block of each pool (node1 10.1.0.0/26, node2 10.1.0.64/26, ...), and nodes reach each other's IPv4 blocks as Calico does: through vxlan.calico devices (the profile's cni.backend vxlan, MicroK8s' default: VNI 4096, UDP 4789, the block's first address on the device, MTU 50 below the uplink's) or, with host-gw, routes via their public addresses (Calico without encapsulation). Pods reach pods and Service endpoints on other nodes over IPv4 (IPv6 stays on its node; `lab check` refuses an IPv6 probe across nodes).",
		Example: `Given a Calico node "node1" with pod CIDRs "10.1.0.0/16,fd01::/64"`,
		bind:    func(w *World) any { return w.calicoNode }})
	register(Def{Subject: "calico", Pattern: `^a pod "([^"]+)" on "([^"]+)" serving HTTP on port ([^ "]+)$`,
		Params:  []Param{P("pod", Name), P("node", Name), P("port", Port)},
		cell:    addPod,
		Doc:     "Creates a pod on a Calico node's routed network, with an address from every pool of the node, and runs a real HTTP server in it on the port (both families). Records pod_ip_NAME (the addresses, comma list).",
		Example: `Given a pod "web" on "node1" serving HTTP on port 8080`,
		bind:    func(w *World) any { return w.routedServer }})
	register(Def{Subject: "calico", Pattern: `^a pod "([^"]+)" on "([^"]+)"$`,
		Params:  []Param{P("pod", Name), P("node", Name)},
		cell:    addPod,
		Doc:     "Creates a pod on a Calico node's routed network that serves nothing (a client to probe from). Records pod_ip_NAME.",
		Example: `Given a pod "client" on "node1"`,
		bind:    func(w *World) any { return w.routedClient }})
	register(Def{Subject: "calico", Pattern: `^Felix programs its (ipv4|ipv6) rules on "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("family", Family), P("node", Name), P("observation", Name)},
		Doc:     "Runs the Calico Felix stand-in (harness/felix, modelled on calico/node v3.28.1) for one family on a Calico node, with the node's own iptables under its kernel profile: picks the backend as Felix's default `auto` does (Kubernetes' marker chains, else the variant with more rules; recorded as NAME_backend), then for each of the raw, mangle, nat and filter tables reads the table and writes what differs of Felix's rules (cali-* chains, `-m comment --comment \"cali:<hash>\"` with Calico's hash, `--jump MARK --set-mark`, the rpfilter check, policy for every pod on the node) with one `iptables-restore --noflush`. A failed table is retried as Felix does (10 retries, 1 ms backoff doubling to 512 ms, real time), then Felix panics and calico-node's supervisor restarts it; two starts are watched. Felix is a daemon: the step returns once an attempt has failed (from then on its retries change nothing in the node until one succeeds), and the retries, panic and restart go on in the background while the following steps run; its observations are recorded when it is done, and reading any observation waits for that. Records NAME = ok or the panicking table's last error with iptables' own output, NAME_retries (retries of that table in the last start), NAME_panics, NAME_iptables (the restore binary's --version, the iptables that produced the text) and NAME_calico_node (Ready, or NotReady once any Felix step on the node failed: Felix's readiness probe fails). Every start, attempt, input, output and backoff is evidence.",
		Example: `When Felix programs its ipv6 rules on "node1" as "felix_restore_v6"`,
		bind:    func(w *World) any { return w.felixProgram }})
}

// family turns ipv4/ipv6 into 4/6.
func family(s string) int {
	if s == "ipv6" {
		return 6
	}
	return 4
}

func (w *World) calicoNode(ctx context.Context, name, cidrs string) error {
	pools, err := driver.ParsePools(cidrs)
	if err != nil {
		return err
	}
	return w.D.AddCalicoNode(ctx, name, pools)
}

func (w *World) routedPod(ctx context.Context, pod, node string, port int) error {
	p, err := w.D.AddRoutedPod(ctx, pod, node, port)
	if err != nil {
		return err
	}
	ips := make([]string, len(p.Addrs))
	for i, a := range p.Addrs {
		ips[i] = a.String()
	}
	w.Observe("pod_ip_"+pod, strings.Join(ips, ","))
	return nil
}

func (w *World) routedServer(ctx context.Context, pod, node, port string) error {
	p, err := ParsePort(port)
	if err != nil {
		return err
	}
	return w.routedPod(ctx, pod, node, p)
}

func (w *World) routedClient(ctx context.Context, pod, node string) error {
	return w.routedPod(ctx, pod, node, 0)
}

func (w *World) felixProgram(ctx context.Context, fam, node, obs string) error {
	pool, err := w.D.PodCIDR(node, family(fam))
	if err != nil {
		return fmt.Errorf("%w, so Felix does not program %s rules there", err, fam)
	}
	pods, err := w.D.PodsOf(node)
	if err != nil {
		return err
	}
	n, err := w.runner(node)
	if err != nil {
		return err
	}
	cfg := felix.Config{IPv6: fam == "ipv6"}
	if !cfg.IPv6 {
		// calico.yaml's default IPv4 pool has natOutgoing; Calico's
		// CALICO_IPV6POOL_NAT_OUTGOING defaults to false.
		cfg.NATPools = []string{pool.String()}
	}
	for _, p := range pods {
		cfg.Endpoints = append(cfg.Endpoints, p.HostIface)
	}
	// One Felix process per node: an earlier Felix step on the node that
	// is still retrying in the background finishes first.
	key := "felix " + node
	if err := w.settle(key); err != nil {
		return err
	}
	// Felix is a daemon: once an attempt has failed, its retries, panic
	// and restart change nothing in the node until one succeeds, so they
	// go on in the background while the following steps run (as beside
	// the real calico-node), and the observations are recorded when Felix
	// is done; reading any observation waits for that.
	// MicroK8s's calico.yaml sets no FELIX_IPTABLESBACKEND: Felix's auto.
	failed := make(chan struct{})
	a := &felix.Agent{Runner: n, Backend: "auto", Failed: func() { close(failed) }}
	type outcome struct {
		rep *felix.Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rep, err := a.Run(ctx, cfg)
		done <- outcome{rep, err}
	}()
	finish := func(o outcome) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if o.err != nil {
			return o.err
		}
		w.felixObserve(o.rep, fam, node, obs)
		return nil
	}
	select {
	case o := <-done:
		return finish(o)
	case <-failed:
		w.background(key, "Felix "+fam+" on "+node, func() error { return finish(<-done) })
		return nil
	}
}

// felixObserve records what Felix did for one family on a node.
func (w *World) felixObserve(rep *felix.Report, fam, node, obs string) {
	w.Evidence(obs+": Felix "+fam+" on "+node, felixEvidence(rep))
	w.mu.Lock()
	if w.felixDown == nil {
		w.felixDown = map[string]bool{}
	}
	if !rep.Ready {
		w.felixDown[node] = true
	}
	down := w.felixDown[node]
	w.mu.Unlock()
	ready := "Ready"
	if down {
		ready = "NotReady"
	}
	retries, result := 0, "ok"
	if len(rep.Starts) > 0 {
		if s := rep.Starts[len(rep.Starts)-1]; s.Err != nil {
			result = strings.TrimSpace(s.Err.Error())
			for _, at := range s.Attempts {
				if at.Table == s.Failed {
					retries++
				}
			}
			retries-- // the first try is not a retry
		}
	}
	w.Observe(obs+"_backend", rep.Detection.Backend)
	w.Observe(obs+"_iptables", rep.Version)
	w.Observe(obs+"_retries", retries)
	w.Observe(obs+"_panics", rep.Panics())
	w.Observe(obs+"_calico_node", ready)
	w.Observe(obs, result)
}

// felixEvidence renders what the stand-in ran: the backend detection, the
// iptables that produced every output, and each start's attempts.
func felixEvidence(rep *felix.Report) string {
	var ev strings.Builder
	d := rep.Detection
	fmt.Fprintf(&ev, "FELIX_IPTABLESBACKEND=%s -> %s (%s)\n", d.Configured, d.Backend, d.Reason)
	fmt.Fprintf(&ev, "iptables that ran (the node's, measured): %s\n", rep.Version)
	ev.WriteString("(calico/node v3.28.1 runs its image's own iptables 1.8.4 instead; microk8s#5022 quotes its output)\n\n")
	for i, s := range rep.Starts {
		status := "applied every table; Felix reports ready"
		if s.Panic != "" {
			status = "panic: " + s.Panic
		}
		fmt.Fprintf(&ev, "# Felix start %d: %d table applies, slept %v in backoffs, took %v: %s\n", i+1, len(s.Attempts), s.Slept, s.Took.Round(time.Millisecond), status)
		for j, at := range s.Attempts {
			st := "ok"
			if at.Err != nil {
				st = at.Err.Error()
			}
			if at.Argv == nil {
				fmt.Fprintf(&ev, "## attempt %d, table %s: in sync, no restore\n\n", j+1, at.Table)
				continue
			}
			fmt.Fprintf(&ev, "## attempt %d, table %s: %s\n$ %s <<EOF\n%sEOF\n%s\n", j+1, at.Table, st, execx.Quote(at.Argv), at.Input, at.Output)
			if at.Backoff > 0 {
				fmt.Fprintf(&ev, "(retrying after %v)\n", at.Backoff)
			}
			ev.WriteString("\n")
		}
		if s.Diag != "" {
			fmt.Fprintf(&ev, "## iptables-save -t %s before the panic\n%s\n", s.Failed, s.Diag)
		}
	}
	return ev.String()
}
