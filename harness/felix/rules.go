// Package felix is the lab's stand-in for Calico's Felix (calico/node
// v3.28.1, the image MicroK8s 1.32's calico.yaml runs): it writes the
// iptables rules Felix programs on a node, in Felix's own format (cali-*
// chains, every rule tagged `-m comment --comment "cali:<hash>"` with
// Felix's chained SHA-224 hash, policy verdicts carried in packet mark bits
// set with `--jump MARK --set-mark`), picks the iptables backend as Felix's
// `auto` does, and applies each table the way Felix's iptables.Table.Apply
// does: iptables-save, one iptables-restore --noflush, up to 10 retries with
// a doubling backoff from 1 ms, then a panic that restarts Felix. It runs
// the node's iptables, through the node's runner (so the node's kernel
// profile applies). Rule generation is pure and tested without a kernel.
package felix

import (
	"fmt"
	"sort"
)

// Felix's default mark bits (IptablesMarkMask 0xffff0000).
const (
	MarkAccept   = 0x10000
	MarkPass     = 0x20000
	MarkScratch0 = 0x40000
	MarkScratch1 = 0x80000
	// allMarks is allCalicoMarkBits() in felix/rules/static.go.
	allMarks = MarkAccept | MarkPass | MarkScratch0 | MarkScratch1
)

// Profile is the Calico profile every endpoint of the default namespace
// gets: allow all, as a namespace without NetworkPolicy.
const Profile = "kns.default"

// Config is what Felix knows about one node for one IP family.
type Config struct {
	// IPv6 selects the ip6tables rule set.
	IPv6 bool
	// Endpoints are the host-side interfaces of the node's workloads
	// (cali + hash), in any order.
	Endpoints []string
	// NATPools are the family's IP pools with natOutgoing (MicroK8s's
	// default pool 10.1.0.0/16 has it): traffic from them to anywhere but
	// a pool is masqueraded by cali-nat-outgoing. Empty: no such rule.
	NATPools []string
}

// Chain is one chain's rules, without "-A CHAIN" and the hash comment,
// which Render adds: each rule is Felix's rendering of its comments, match
// and action, e.g. `-m mark --mark 0x10000/0x10000 --jump ACCEPT`.
type Chain struct {
	Name  string
	Rules []string
}

// Table is what Felix owns in one iptables table.
type Table struct {
	Name string
	// Chains are Felix's own chains, in the order they are written.
	Chains []Chain
	// Inserts are rules Felix inserts at the top of built-in chains (a jump
	// to its own chain), by built-in chain.
	Inserts []Chain
	// Appends are rules Felix appends to built-in chains.
	Appends []Chain
}

// The renderings of Felix's actions and matches (felix/iptables/actions.go
// and match_builder.go at v3.28.1).
func mark(v, m int) string   { return fmt.Sprintf("-m mark --mark %#x/%#x", v, m) }
func markClear(m int) string { return fmt.Sprintf("-m mark --mark 0/%#x", m) }
func setMark(v int) string   { return fmt.Sprintf("--jump MARK --set-mark %#x/%#x", v, v) }
func clearMark(m int) string { return fmt.Sprintf("--jump MARK --set-mark 0/%#x", m) }

// comment is an extra human-readable comment Felix adds to some rules.
func comment(c string) string { return fmt.Sprintf("-m comment --comment %q", c) }

// Tables returns the raw, mangle, nat and filter tables Felix writes for
// cfg, in the order the stand-in applies them.
func Tables(cfg Config) []Table {
	eps := append([]string(nil), cfg.Endpoints...)
	sort.Strings(eps)
	const accepted = "Host endpoint policy accepted packet."
	raw := Table{Name: "raw",
		Chains: []Chain{
			{"cali-PREROUTING", rawPrerouting()},
			{"cali-OUTPUT", []string{
				clearMark(allMarks),
				"--jump cali-to-host-endpoint",
				mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
			}},
			{"cali-rpf-skip", nil},
			{"cali-from-host-endpoint", nil},
			{"cali-to-host-endpoint", nil},
		},
		Inserts: []Chain{{"PREROUTING", []string{"--jump cali-PREROUTING"}}, {"OUTPUT", []string{"--jump cali-OUTPUT"}}},
	}
	mangle := Table{Name: "mangle",
		Chains: []Chain{
			{"cali-PREROUTING", []string{
				"-m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT",
				mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
				"--jump cali-from-host-endpoint",
				comment(accepted) + " " + mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
			}},
			{"cali-POSTROUTING", []string{
				mark(MarkAccept, MarkAccept) + " --jump RETURN",
				clearMark(allMarks),
				"-m conntrack --ctstate DNAT --jump cali-to-host-endpoint",
				comment(accepted) + " " + mark(MarkAccept, MarkAccept) + " --jump RETURN",
			}},
			{"cali-from-host-endpoint", nil},
			{"cali-to-host-endpoint", nil},
		},
		Inserts: []Chain{{"PREROUTING", []string{"--jump cali-PREROUTING"}}, {"POSTROUTING", []string{"--jump cali-POSTROUTING"}}},
	}
	filter := Table{Name: "filter",
		Chains: append([]Chain{
			{"cali-FORWARD", []string{
				clearMark(MarkPass | MarkScratch0 | MarkScratch1),
				markClear(MarkAccept) + " --jump cali-from-hep-forward",
				"--in-interface cali+ --jump cali-from-wl-dispatch",
				"--out-interface cali+ --jump cali-to-wl-dispatch",
				"--jump cali-to-hep-forward",
				"--jump cali-cidr-block",
			}},
			{"cali-INPUT", []string{
				"--in-interface cali+ --goto cali-wl-to-host",
				mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
				clearMark(allMarks),
				"--jump cali-from-host-endpoint",
				comment(accepted) + " " + mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
			}},
			{"cali-OUTPUT", []string{
				mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
				"--out-interface cali+ --jump RETURN",
				clearMark(allMarks),
				"--jump cali-to-host-endpoint",
				comment(accepted) + " " + mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
			}},
			{"cali-wl-to-host", wlToHost(cfg.IPv6)},
			{"cali-from-wl-dispatch", dispatch("--in-interface", "cali-fw-", eps)},
			{"cali-to-wl-dispatch", dispatch("--out-interface", "cali-tw-", eps)},
			{"cali-pro-" + Profile, profileRules()},
			{"cali-pri-" + Profile, profileRules()},
			{"cali-from-hep-forward", nil},
			{"cali-to-hep-forward", nil},
			{"cali-from-host-endpoint", nil},
			{"cali-to-host-endpoint", nil},
			{"cali-cidr-block", nil},
		}, endpointChains(eps)...),
		Inserts: []Chain{
			{"INPUT", []string{"--jump cali-INPUT"}},
			{"FORWARD", []string{"--jump cali-FORWARD"}},
			{"OUTPUT", []string{"--jump cali-OUTPUT"}},
		},
		Appends: []Chain{{"FORWARD", []string{
			comment("Policy explicitly accepted packet.") + " " + mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
			setMark(MarkAccept),
		}}},
	}
	return []Table{raw, mangle, natTable(cfg), filter}
}

// rawPrerouting is StaticRawPreroutingChain of felix/rules/static.go at
// v3.28.1 (no WireGuard): the strict reverse-path check of packets from
// workloads is an iptables rule for both families there (`-m rpfilter
// --invert --validmark`), after a jump to cali-rpf-skip.
func rawPrerouting() []string {
	return []string{
		clearMark(allMarks),
		"--in-interface cali+ " + setMark(MarkScratch0),
		mark(MarkScratch0, MarkScratch0) + " --jump cali-rpf-skip",
		mark(MarkScratch0, MarkScratch0) + " -m rpfilter --invert --validmark --jump DROP",
		markClear(MarkScratch0) + " --jump cali-from-host-endpoint",
		mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
	}
}

func wlToHost(ipv6 bool) []string {
	var r []string
	if ipv6 {
		// Felix always lets workloads do neighbour discovery and MLD with the host.
		for _, t := range []int{130, 131, 132, 133, 135, 136} {
			r = append(r, fmt.Sprintf("-p ipv6-icmp -m icmp6 --icmpv6-type %d --jump ACCEPT", t))
		}
	}
	return append(r,
		"--jump cali-from-wl-dispatch",
		comment("Configured DefaultEndpointToHostAction")+" --jump ACCEPT",
	)
}

func dispatch(dir, prefix string, eps []string) []string {
	var r []string
	for _, e := range eps {
		r = append(r, fmt.Sprintf("%s %s --goto %s%s", dir, e, prefix, e))
	}
	return append(r, comment("Unknown interface")+" --jump DROP")
}

func profileRules() []string {
	return []string{
		setMark(MarkAccept),
		mark(MarkAccept, MarkAccept) + " --jump RETURN",
	}
}

// endpointChains are the per-workload policy chains: from the workload
// (cali-fw-*, the profile's outbound rules) and to it (cali-tw-*, inbound).
func endpointChains(eps []string) []Chain {
	var out []Chain
	for _, e := range eps {
		for _, c := range []struct{ prefix, profile string }{{"cali-fw-", "cali-pro-"}, {"cali-tw-", "cali-pri-"}} {
			out = append(out, Chain{c.prefix + e, []string{
				"-m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT",
				"-m conntrack --ctstate INVALID --jump DROP",
				clearMark(MarkAccept),
				"--jump " + c.profile + Profile,
				comment("Return if profile accepted") + " " + mark(MarkAccept, MarkAccept) + " --jump RETURN",
				comment("Drop if no profiles matched") + " --jump DROP",
			}})
		}
	}
	return out
}
