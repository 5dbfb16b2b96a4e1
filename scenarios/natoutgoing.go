package scenarios

import (
	"context"
	"fmt"
	"strings"

	"lab/harness/felix"
)

func init() {
	register(Def{Subject: "egress", Pattern: `^pod egress from "([^"]+)" on "([^"]+)" is masqueraded by Felix's natOutgoing$`,
		Params:  []Param{P("pod CIDR", CIDR), P("node", Name)},
		Doc:     "Writes the pod egress NAT rules Calico's Felix writes for an IP pool with natOutgoing, with the profile's cni.nat_port_range (Calico's natPortRange): `-j MASQUERADE --random-fully` without a range; with one, `-p tcp` and `-p udp` rules `-j MASQUERADE --to-ports RANGE --random-fully` and a last rule without the range (felix/rules/nat.go). The nat table is evidence.",
		Example: `Given pod egress from "10.1.0.0/16" on "node1" is masqueraded by Felix's natOutgoing`,
		bind:    func(w *World) any { return w.felixNATOutgoing }})
}

func (w *World) felixNATOutgoing(ctx context.Context, cidr, node string) error {
	opts := felix.MasqueradeOptions(w.D.Profile().CNI.NATPortRange)
	if err := w.masquerade(ctx, cidr, node, strings.Join(opts, " ")); err != nil {
		return fmt.Errorf("Felix natOutgoing: %w", err)
	}
	return nil
}
