package felix

import "strings"

// natTable is Felix's nat table (StaticNATTableChains and NATOutgoingChain
// in felix/rules at v3.28.1), the same for both families: jumps from
// PREROUTING, POSTROUTING and OUTPUT to Felix's chains, floating-IP chains
// (empty: no floating IPs) and cali-nat-outgoing.
func natTable(cfg Config) Table {
	return Table{Name: "nat",
		Chains: []Chain{
			{"cali-PREROUTING", []string{"--jump cali-fip-dnat"}},
			{"cali-POSTROUTING", []string{"--jump cali-fip-snat", "--jump cali-nat-outgoing"}},
			{"cali-OUTPUT", []string{"--jump cali-fip-dnat"}},
			{"cali-fip-dnat", nil},
			{"cali-fip-snat", nil},
			{"cali-nat-outgoing", natOutgoing(cfg)},
		},
		Inserts: []Chain{
			{"PREROUTING", []string{"--jump cali-PREROUTING"}},
			{"POSTROUTING", []string{"--jump cali-POSTROUTING"}},
			{"OUTPUT", []string{"--jump cali-OUTPUT"}},
		},
	}
}

// natOutgoing is the rule of cali-nat-outgoing: masquerade what leaves a
// natOutgoing pool for anything outside the pools, with --random-fully (the
// MASQFullyRandom feature Felix detects for iptables >= 1.6.2 on kernels
// >= 3.14). Felix matches the pools with its ipsets (`-m set --match-set
// cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools
// dst`); the stand-in writes the pools' CIDRs instead (no ipset here).
func natOutgoing(cfg Config) []string {
	if len(cfg.NATPools) == 0 {
		return nil
	}
	pools := strings.Join(cfg.NATPools, ",")
	return []string{"--source " + pools + " ! --destination " + pools + " --jump MASQUERADE --random-fully"}
}
