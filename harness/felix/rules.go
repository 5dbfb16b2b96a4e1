// Package felix writes the iptables rules Calico's Felix programs on a node,
// in Felix's own format (cali-* chains, every rule tagged
// `-m comment --comment "cali:<hash>"`, policy verdicts carried in packet
// mark bits set with `--jump MARK --set-mark`), and applies them the way
// Felix does: one iptables-restore --noflush per table, through the node's
// runner (so the node's iptables variant and kernel profile apply), retrying
// a failed table. Rule generation is pure and tested without a kernel.
package felix

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// Felix's default mark bits (IptablesMarkMask 0xffff0000).
const (
	MarkAccept   = 0x10000
	MarkPass     = 0x20000
	MarkScratch0 = 0x40000
	MarkScratch1 = 0x80000
)

// HashLength is the length of the hash in a rule's "cali:" comment.
const HashLength = 16

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
}

// Chain is one cali-* chain: its rules, without "-A CHAIN" and the hash
// comment, which Render adds.
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

// Hashes returns Felix's rule hashes for a chain's rules: each is the first
// HashLength characters of the URL-safe base64 of a SHA-224 chained over the
// chain name, the previous hash and the rule, so a rule's hash depends on its
// position as well as its text.
func Hashes(chain string, rules []string) []string {
	out := make([]string, len(rules))
	s := sha256.New224()
	s.Write([]byte(chain))
	var h []byte
	for i, r := range rules {
		s.Write(h)
		s.Write([]byte(r))
		h = s.Sum(nil)
		out[i] = base64.RawURLEncoding.EncodeToString(h)[:HashLength]
	}
	return out
}

func mark(v, m int) string    { return fmt.Sprintf("-m mark --mark %#x/%#x", v, m) }
func setMark(v, m int) string { return fmt.Sprintf("--jump MARK --set-mark %#x/%#x", v, m) }

// comment is an extra human-readable comment Felix adds to some rules.
func comment(c string) string { return fmt.Sprintf("-m comment --comment %q", c) }

// Tables returns the raw, mangle and filter tables Felix writes for cfg, in
// the order Felix applies them.
func Tables(cfg Config) []Table {
	eps := append([]string(nil), cfg.Endpoints...)
	sort.Strings(eps)
	const accepted = "Host endpoint policy accepted packet."
	raw := Table{Name: "raw",
		Chains: []Chain{
			{"cali-PREROUTING", rawPrerouting(cfg.IPv6)},
			{"cali-OUTPUT", []string{
				setMark(0, 0xf0000),
				"--jump cali-to-host-endpoint",
				mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
			}},
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
				setMark(0, 0xf0000),
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
				setMark(0, 0xe0000),
				mark(0, MarkAccept) + " --jump cali-from-hep-forward",
				"--in-interface cali+ --jump cali-from-wl-dispatch",
				"--out-interface cali+ --jump cali-to-wl-dispatch",
				"--jump cali-to-hep-forward",
				"--jump cali-cidr-block",
			}},
			{"cali-INPUT", []string{
				"--in-interface cali+ --goto cali-wl-to-host",
				mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
				setMark(0, 0xf0000),
				"--jump cali-from-host-endpoint",
				comment(accepted) + " " + mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
			}},
			{"cali-OUTPUT", []string{
				mark(MarkAccept, MarkAccept) + " --jump ACCEPT",
				"--out-interface cali+ --jump RETURN",
				setMark(0, 0xf0000),
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
			setMark(MarkAccept, MarkAccept),
		}}},
	}
	return []Table{raw, mangle, filter}
}

func rawPrerouting(ipv6 bool) []string {
	r := []string{
		setMark(0, 0xf0000),
		"--in-interface cali+ " + setMark(MarkScratch0, MarkScratch0),
	}
	if ipv6 {
		// IPv6 has no rp_filter sysctl; Felix does the strict RPF check.
		r = append(r, mark(MarkScratch0, MarkScratch0)+" -m rpfilter --validmark --invert --jump DROP")
	}
	return append(r,
		mark(0, MarkScratch0)+" --jump cali-from-host-endpoint",
		mark(MarkAccept, MarkAccept)+" --jump ACCEPT",
	)
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
		setMark(MarkAccept, MarkAccept),
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
				setMark(0, MarkAccept),
				"--jump " + c.profile + Profile,
				comment("Return if profile accepted") + " " + mark(MarkAccept, MarkAccept) + " --jump RETURN",
				comment("Drop if no profiles matched") + " --jump DROP",
			}})
		}
	}
	return out
}

// Present reports whether a rule tagged "cali:<hash>" is already in a
// built-in chain; Render skips inserts and appends that are.
type Present func(chain, hash string) bool

// Render returns the iptables-restore input (for --noflush) that writes t:
// each Felix chain declared (which flushes it) and filled, then the inserts
// and appends into built-in chains that present does not already show.
func (t Table) Render(present Present) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s\n", t.Name)
	for _, c := range t.Chains {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c.Name)
	}
	for _, c := range t.Inserts {
		hs := Hashes(c.Name, c.Rules)
		// -I puts each rule first: insert in reverse to keep their order.
		for i := len(c.Rules) - 1; i >= 0; i-- {
			if present == nil || !present(c.Name, hs[i]) {
				fmt.Fprintf(&b, "-I %s 1 -m comment --comment \"cali:%s\" %s\n", c.Name, hs[i], c.Rules[i])
			}
		}
	}
	for _, c := range t.Chains {
		hs := Hashes(c.Name, c.Rules)
		for i, r := range c.Rules {
			fmt.Fprintf(&b, "-A %s -m comment --comment \"cali:%s\" %s\n", c.Name, hs[i], r)
		}
	}
	for _, c := range t.Appends {
		hs := Hashes(c.Name, c.Rules)
		for i, r := range c.Rules {
			if present == nil || !present(c.Name, hs[i]) {
				fmt.Fprintf(&b, "-A %s -m comment --comment \"cali:%s\" %s\n", c.Name, hs[i], r)
			}
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}
