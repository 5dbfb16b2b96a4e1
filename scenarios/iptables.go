package scenarios

import (
	"context"
	"fmt"
	"strings"

	"lab/harness/execx"
	"lab/harness/iptables"
)

func init() {
	register(Def{Subject: "iptables", Pattern: `^I count the jumps in chain "([^"]+)" of table "([^"]+)" on "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("chain", Chain), P("table", Table), P("node", Name), P("observation", Name)},
		Doc:     "Dumps the table with the node's iptables variant (`iptables-legacy-save -t TABLE` on a legacy profile) and records how many rules of the chain jump to a user-defined chain, as an integer observation. The dump is kept as evidence.",
		Example: `When I count the jumps in chain "CNI-HOSTPORT-DNAT" of table "nat" on "node1" as "dnat_jumps_before"`,
		bind:    func(w *World) any { return w.countJumps }})
}

// save dumps one IPv4 table of a node with its profile's iptables variant.
func (w *World) save(ctx context.Context, node, table string) (*iptables.Dump, string, error) {
	n, err := w.runner(node)
	if err != nil {
		return nil, "", err
	}
	bin := iptables.Binary("iptables-save", w.D.Profile().Iptables.Mode)
	out, err := execx.Output(ctx, n, bin, "-c", "-t", table)
	if err != nil {
		return nil, "", err
	}
	d, err := iptables.Parse(out)
	if err != nil {
		return nil, out, fmt.Errorf("parse %s output: %w", bin, err)
	}
	return d, out, nil
}

func (w *World) countJumps(ctx context.Context, chain, table, node, obs string) error {
	d, dump, err := w.save(ctx, node, table)
	if err != nil {
		return err
	}
	w.RuleDump(fmt.Sprintf("%s: %s table of %s", obs, table, node), dump)
	if d.Chain(table, chain) == nil {
		return fmt.Errorf("no chain %s in table %s on %s (chains: %s); counting it would give a meaningless 0: check the chain's name, or that what creates it ran first",
			chain, table, node, chainNames(d, table))
	}
	w.Observe(obs, d.Jumps(table, chain))
	return nil
}

// chainNames lists the chains of a table of a dump, in order.
func chainNames(d *iptables.Dump, table string) string {
	t := d.Tables[table]
	if t == nil {
		return "none: the table is empty"
	}
	return strings.Join(t.Order, ", ")
}
