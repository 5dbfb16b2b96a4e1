package scenarios

import (
	"context"
	"fmt"
	"strings"

	"lab/harness/execx"
	"lab/harness/inspect"
)

func init() {
	register(Def{Subject: "netfilter", Pattern: `^I read the FORWARD policy of iptables-(legacy|nft) on "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("variant", Text), P("node", Name), P("observation", Name)},
		Doc:     "Runs `iptables-legacy -S FORWARD` (or `iptables-nft -S FORWARD`) on a node, as root with the node's environment, and records NAME = the policy of the variant's IPv4 FORWARD chain (ACCEPT or DROP). The two variants have separate FORWARD chains; a packet must pass both.",
		Example: `When I read the FORWARD policy of iptables-nft on "node1" as "forward_policy_nft"`,
		bind:    func(w *World) any { return w.forwardPolicy }})
}

func (w *World) forwardPolicy(ctx context.Context, variant, node, obs string) error {
	n, err := w.runner(node)
	if err != nil {
		return err
	}
	bin := "iptables-" + variant
	out, err := execx.Output(ctx, n, bin, "-w", "-t", "filter", "-S", "FORWARD")
	w.RuleDump(fmt.Sprintf("%s: %s -S FORWARD on %s", obs, bin, node), strings.TrimSpace(out))
	if err != nil {
		return err
	}
	pol, err := inspect.ParseForwardPolicy(out)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", bin, node, err)
	}
	w.Observe(obs, pol)
	return nil
}
