package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lab/harness/execx"
	"lab/harness/iptables"
)

// forwardPolicy is one iptables variant's FORWARD chain in a node's filter
// table: its policy and the packets the policy has decided so far.
type forwardPolicy struct {
	variant string // legacy or nft
	policy  string
	packets uint64
}

// forwardPolicies reads the FORWARD policy and its packet counter of each
// iptables variant whose filter table of the family exists in the node
// (`iptables-legacy-save -t filter` prints ":FORWARD DROP [pkts:bytes]");
// it creates no table: the legacy one is read only when the kernel lists it
// in /proc/net/ip_tables_names, the nft one only when nft lists it.
func forwardPolicies(ctx context.Context, r execx.Runner, fam int) ([]forwardPolicy, error) {
	names, family, save := "/proc/net/ip_tables_names", "ip", "iptables-save"
	if fam == 6 {
		names, family, save = "/proc/net/ip6_tables_names", "ip6", "ip6tables-save"
	}
	var out []forwardPolicy
	for _, v := range []string{"legacy", "nft"} {
		exists := execx.Cmd{Argv: []string{"grep", "-qx", "filter", names}}
		if v == "nft" {
			exists = execx.Cmd{Argv: []string{"nft", "list", "table", family, "filter"}}
		}
		if _, err := r.Run(ctx, exists); err != nil {
			continue // no such table (or no nft in the node)
		}
		dump, err := execx.Output(ctx, r, iptables.Binary(save, v), "-t", "filter")
		if err != nil {
			return nil, err
		}
		if p, ok := parseForwardPolicy(dump); ok {
			p.variant = v
			out = append(out, p)
		}
	}
	return out, nil
}

// parseForwardPolicy reads the FORWARD chain's header of an iptables-save
// dump of the filter table.
func parseForwardPolicy(dump string) (forwardPolicy, bool) {
	for _, l := range strings.Split(dump, "\n") {
		rest, ok := strings.CutPrefix(l, ":FORWARD ")
		if !ok {
			continue
		}
		policy, counters, _ := strings.Cut(rest, " ")
		pk, _, _ := strings.Cut(strings.Trim(counters, "[]"), ":")
		n, err := strconv.ParseUint(pk, 10, 64)
		if err != nil {
			return forwardPolicy{}, false
		}
		return forwardPolicy{policy: policy, packets: n}, true
	}
	return forwardPolicy{}, false
}

// forwardDropSignal is the sign that a node's FORWARD chain dropped a pod's
// probe: from is a pod on node, so its packets to dst cross the node's
// FORWARD chains; when a variant's FORWARD policy is DROP, a growing policy
// counter during the unanswered probe means its packets fell through to
// that policy (the ruleset does not change during the probe, so its
// retransmissions will too). The counters are read now, before the probe;
// nil when the source is not a pod or no FORWARD policy of the family is
// DROP (nothing to watch).
func (w *World) forwardDropSignal(ctx context.Context, from, node string, dst netip.Addr) signal {
	if _, ok := w.D.Pod(from); !ok {
		return nil
	}
	r, err := w.runner(node)
	if err != nil {
		return nil
	}
	fam := 4
	if dst.Is6() {
		fam = 6
	}
	before, err := forwardPolicies(ctx, r, fam)
	if err != nil {
		return nil
	}
	watch := map[string]uint64{}
	for _, p := range before {
		if p.policy == "DROP" {
			watch[p.variant] = p.packets
		}
	}
	if len(watch) == 0 {
		return nil
	}
	return func(ctx context.Context, _ time.Duration) string {
		now, err := forwardPolicies(ctx, r, fam)
		if err != nil {
			return ""
		}
		for _, p := range now {
			was, ok := watch[p.variant]
			if ok && p.policy == "DROP" && p.packets > was {
				return fmt.Sprintf("node %s's FORWARD chain (iptables-%s, IPv%d) has policy DROP, and the policy dropped %d packet(s) during the probe (counter %d -> %d): the probe's packets matched no rule of the chain",
					node, p.variant, fam, p.packets-was, was, p.packets)
			}
		}
		return ""
	}
}
