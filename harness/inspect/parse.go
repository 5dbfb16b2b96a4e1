// Package inspect reports what a MicroK8s networking bug report needs to
// know about a machine (the host, or a node of a running cell): which
// iptables variant `iptables` is and which of legacy and nft hold rules, the
// FORWARD policy of each, Felix's iptables backend, the kernel release, and
// which netfilter extensions MicroK8s, Calico, flannel and kube-proxy use are
// available per family, each probed by adding a rule in a throwaway network
// namespace so the inspected machine's own rules are never touched. It
// lists every problem found with the fix the upstream reports give.
//
// The parsing of what the tools print is pure and tested without a kernel.
package inspect

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"lab/harness/iptables"
)

// ParseVersion reads `iptables -V` ("iptables v1.8.9 (nf_tables)") into
// the version and the variant: "nft", "legacy", or "" when not said.
func ParseVersion(out string) (version, variant string) {
	f := strings.Fields(strings.TrimSpace(out))
	for _, w := range f {
		if strings.HasPrefix(w, "v") && len(w) > 1 && w[1] >= '0' && w[1] <= '9' {
			version = strings.TrimPrefix(w, "v")
		}
	}
	switch {
	case strings.Contains(out, "(nf_tables)"):
		variant = "nft"
	case strings.Contains(out, "(legacy)"):
		variant = "legacy"
	case version != "":
		variant = "legacy" // before 1.8, iptables was legacy only and said nothing
	}
	return version, variant
}

// CountRules counts the rules (-A lines) per table of an iptables-save dump.
// Tables with no rules are present with 0.
func CountRules(save string) (map[string]int, error) {
	d, err := iptables.Parse(save)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for name, t := range d.Tables {
		n := 0
		for _, c := range t.Chains {
			n += len(c.Rules)
		}
		out[name] = n
	}
	return out, nil
}

// NFT is what `nft -j list ruleset` says about rule counts and forward hooks.
type NFT struct {
	// Rules counts rules per table, keyed "family name" ("ip filter").
	Rules map[string]int
	// ForwardPolicy is the policy of each base chain at the forward hook,
	// keyed "family table chain" ("ip filter FORWARD").
	ForwardPolicy map[string]string
}

// ParseNFT reads `nft -j list ruleset`.
func ParseNFT(js []byte) (*NFT, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("parse nft -j output: %w", err)
	}
	n := &NFT{Rules: map[string]int{}, ForwardPolicy: map[string]string{}}
	for _, obj := range doc.Nftables {
		var o struct {
			Family string `json:"family"`
			Name   string `json:"name"`
			Table  string `json:"table"`
			Hook   string `json:"hook"`
			Policy string `json:"policy"`
		}
		switch {
		case obj["table"] != nil:
			if err := json.Unmarshal(obj["table"], &o); err != nil {
				return nil, fmt.Errorf("parse nft table: %w", err)
			}
			if _, ok := n.Rules[o.Family+" "+o.Name]; !ok {
				n.Rules[o.Family+" "+o.Name] = 0
			}
		case obj["chain"] != nil:
			if err := json.Unmarshal(obj["chain"], &o); err != nil {
				return nil, fmt.Errorf("parse nft chain: %w", err)
			}
			if o.Hook == "forward" {
				n.ForwardPolicy[o.Family+" "+o.Table+" "+o.Name] = strings.ToUpper(o.Policy)
			}
		case obj["rule"] != nil:
			if err := json.Unmarshal(obj["rule"], &o); err != nil {
				return nil, fmt.Errorf("parse nft rule: %w", err)
			}
			n.Rules[o.Family+" "+o.Table]++
		}
	}
	return n, nil
}

// Policy returns the policy iptables-nft shows for a built-in chain of the
// family's filter table ("ACCEPT" when the table or chain does not exist:
// nothing is hooked, so nothing is filtered).
func (n *NFT) Policy(ipv6 bool, chain string) string {
	fam := "ip"
	if ipv6 {
		fam = "ip6"
	}
	if p, ok := n.ForwardPolicy[fam+" filter "+chain]; ok && p != "" {
		return p
	}
	return "ACCEPT"
}

// ParseForwardPolicy reads the policy out of `iptables -S FORWARD` (the
// line "-P FORWARD DROP").
func ParseForwardPolicy(out string) (string, error) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "-P" && f[1] == "FORWARD" {
			return f[2], nil
		}
	}
	return "", fmt.Errorf("no FORWARD policy in %q", strings.TrimSpace(out))
}

// ParseTableNames reads /proc/net/ip_tables_names (one table per line).
func ParseTableNames(out string) []string {
	names := strings.Fields(out)
	sort.Strings(names)
	return names
}

var felixBackendRE = regexp.MustCompile(`(?m)name:\s*["']?FELIX_IPTABLESBACKEND["']?\s*\n\s*value:\s*["']?([A-Za-z]+)["']?`)

// FelixBackend returns the value of FELIX_IPTABLESBACKEND in Calico's
// manifest (MicroK8s keeps it in args/cni-network/cni.yaml), or "" when the
// manifest does not set it.
func FelixBackend(manifest string) string {
	m := felixBackendRE.FindStringSubmatch(manifest)
	if m == nil {
		return ""
	}
	return m[1]
}

var warningRE = regexp.MustCompile(`Warning: Extension (\S+) revision \d+ not supported, missing kernel module\?`)

// Warnings returns the extensions iptables named in its "missing kernel
// module?" warnings, in order, without repeats.
func Warnings(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range warningRE.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// NodeNamespace splits the namespace name of a lab node,
// "lab-<run>-<cell>-h-<node>", into the run's short id, the cell index and
// the node name.
func NodeNamespace(name string) (run, cell, node string, ok bool) {
	rest, found := strings.CutPrefix(name, "lab-")
	if !found {
		return "", "", "", false
	}
	prefix, node, found := strings.Cut(rest, "-h-")
	if !found || node == "" {
		return "", "", "", false
	}
	run, cell, found = strings.Cut(prefix, "-")
	if !found || run == "" || cell == "" || strings.Contains(cell, "-") {
		return "", "", "", false
	}
	return run, cell, node, true
}
