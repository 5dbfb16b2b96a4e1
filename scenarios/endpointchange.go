package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"lab/harness/kubeproxy"
)

// StaleFlowWait bounds the wait for kube-proxy to delete the conntrack
// entries of UDP flows to endpoints a Service lost: it does so right after
// the sync that removed them (pkg/proxy/conntrack), or never.
const StaleFlowWait = 3 * time.Second

func init() {
	register(Def{Subject: "services", Pattern: `^Service "([^"]+)" is now backed by pods? "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("service", Name), P("pods", NameList), P("observation", Name)},
		cell:    changeService,
		Doc:     "Replaces a Service's endpoints by these pods (its EndpointSlice changes, as when a pod is replaced; the old pods keep running). Every kube-proxy running (`Given kube-proxy runs on ...`) gets the change and syncs; for a UDP Service, real kube-proxy then deletes the conntrack entries of flows to the ClusterIP that still point to an endpoint the Service lost (Kubernetes v1.29 with the node's `conntrack` program, v1.32 over netlink). Waits up to 3 s for that and records NAME = the number of such stale entries left on the nodes running kube-proxy (0: cleared; a TCP Service's flows are kept by design). A kube-proxy that could not run `conntrack` (a node without it; MicroK8s bundles one) is an error, not a count. The entries before and after are evidence.",
		Example: `When Service "echo" is now backed by pod "b" as "stale_udp_flows"`,
		bind:    func(w *World) any { return w.serviceBackedBy }})
}

// changeService is the rule of endpoint changes: the Service and its new
// pods must be declared.
func changeService(s *cellState, args []string) string {
	if _, ok := s.services[args[0]]; !ok {
		return fmt.Sprintf("no Service %q declared before this step", args[0])
	}
	pods, _ := ParseNameList(args[1])
	for _, p := range pods {
		if _, ok := s.pods[p]; !ok {
			return fmt.Sprintf("Service %q is now for pod %q, which no earlier step creates", args[0], p)
		}
	}
	s.services[args[0]] = pods
	return ""
}

func (w *World) serviceBackedBy(ctx context.Context, name, list, obs string) error {
	s, ip, err := w.serviceIP(name, "ipv4")
	if err != nil {
		return err
	}
	pods, err := w.backends(name, list)
	if err != nil {
		return err
	}
	before := w.endpoints(s, 4)
	w.mu.Lock()
	s.pods = pods
	nodes := append([]string(nil), w.proxyNodes...)
	w.mu.Unlock()
	if len(nodes) == 0 {
		return fmt.Errorf("service %s: no kube-proxy runs to see the change; add `Given kube-proxy runs on \"NODE\"` before this step", name)
	}
	kept := map[netip.AddrPort]bool{}
	for _, e := range w.endpoints(s, 4) {
		kept[netip.AddrPortFrom(e.IP, uint16(e.Port))] = true
	}
	gone := map[string]bool{}
	for _, e := range before {
		if ap := netip.AddrPortFrom(e.IP, uint16(e.Port)); !kept[ap] {
			gone[ap.String()] = true
		}
	}
	dst := netip.AddrPortFrom(ip, uint16(s.port))
	flows := func(when string) (int, error) {
		stale := 0
		var ev strings.Builder
		for _, node := range nodes {
			fl, err := w.D.Conntrack(ctx, node, dst)
			if err != nil {
				return 0, err
			}
			for _, f := range fl {
				mark := ""
				if gone[f.DNATTo] {
					stale++
					mark = " (stale: endpoint gone)"
				}
				fmt.Fprintf(&ev, "%s: %s DNAT to %s%s\n", node, f.Orig, f.DNATTo, mark)
			}
		}
		if when != "" {
			w.Evidence(obs+": conntrack entries to "+dst.String()+" "+when, ev.String())
		}
		return stale, nil
	}
	if _, err := flows("before the change"); err != nil {
		return err
	}
	for _, node := range nodes {
		cidr, err := w.D.PodCIDR(node, 4)
		if err != nil {
			return err
		}
		if err := w.D.RunKubeProxy(ctx, node, kubeproxy.Config{ClusterCIDR: cidr}, w.ipv4Services()); err != nil {
			return fmt.Errorf("kube-proxy on %s after Service %s changed: %w", node, name, err)
		}
	}
	deadline := time.Now().Add(StaleFlowWait)
	stale := 0
	for {
		if stale, err = flows(""); err != nil {
			return err
		}
		if stale == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := flows("after kube-proxy's sync"); err != nil {
		return err
	}
	for _, node := range nodes {
		k, ok := w.D.KubeProxy(node)
		if !ok {
			continue
		}
		w.Evidence(obs+": kube-proxy "+k.Release()+" on "+node+": log (klog)", k.Log())
		if stale > 0 && strings.Contains(k.Log(), noConntrack) {
			return fmt.Errorf("kube-proxy %s on %s could not delete the stale UDP conntrack entries: the node has no conntrack program (kube-proxy logged %q); MicroK8s bundles one (snap/snapcraft.yaml stage-packages: conntrack), so run this on a node that has it or a Kubernetes release that clears them over netlink (v1.32)", k.Release(), node, noConntrack)
		}
	}
	w.Observe(obs, stale)
	return nil
}

// noConntrack is what kube-proxy (v1.29: pkg/proxy/conntrack execs the
// conntrack program) logs when the node has none.
const noConntrack = "error looking for path of conntrack"
