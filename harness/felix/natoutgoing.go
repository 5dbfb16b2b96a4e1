package felix

// MasqueradeOptions returns the MASQUERADE target options of Felix's
// cali-nat-outgoing rules for a natPortRange (FelixConfiguration
// natPortRange, env FELIX_NATPORTRANGE; "" for none): `--to-ports RANGE
// --random-fully` with a range, `--random-fully` without (Felix's
// MasqAction.ToFragment, with --random-fully since Felix detects
// MASQFullyRandom on iptables 1.6.2+). With a range, Felix writes it for
// tcp and udp only and a last rule without it for every other protocol
// (felix/rules/nat.go, NATOutgoingChain); sim.MasqueradeRules splits the
// options the same way.
func MasqueradeOptions(natPortRange string) []string {
	if natPortRange == "" {
		return []string{"--random-fully"}
	}
	return []string{"--to-ports", natPortRange, "--random-fully"}
}
