package profile

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"lab/harness/gateway"
	"lab/harness/kernel"

	"gopkg.in/yaml.v3"
)

// Problem is one mistake in a profile (or, for `lab check`, a feature)
// file, at a line (0: the whole file).
type Problem struct {
	File string
	Line int
	Msg  string
}

// String renders the problem as FILE:LINE: MSG.
func (p Problem) String() string {
	if p.Line == 0 {
		if strings.HasPrefix(p.Msg, p.File+":") {
			return p.Msg
		}
		return p.File + ": " + p.Msg
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// fieldCheck validates one scalar field's value.
type fieldCheck func(v string) error

// fieldChecks are the value checks of scalar fields, by dotted path; a path
// ending in [] applies to every item of a list, ending in .* to every value
// of a map. Load's validate uses the same functions.
func fieldChecks(known *kernel.Known) map[string]fieldCheck {
	ext := func(fam, kind string) fieldCheck {
		return func(v string) error {
			h := kernel.Hidden{Family: fam, Kind: kind, Name: v}
			if err := h.Validate(); err != nil {
				return err
			}
			if known != nil {
				return known.Check(h)
			}
			return nil
		}
	}
	return map[string]fieldCheck{
		"iptables.mode":                    checkMode,
		"iptables.host_forward_policy.*":   checkPolicy,
		"cni.subnet":                       checkCIDR,
		"provider_firewall.tcp_ack_ports":  checkAckPorts,
		"firewalld.backend":                checkBackend,
		"firewalld.default_zone":           checkZone,
		"microk8s.stop.flush_chains[]":     checkChain,
		"kernel.missing.ipv4.matches[]":    ext("ipv4", "match"),
		"kernel.missing.ipv4.targets[]":    ext("ipv4", "target"),
		"kernel.missing.ipv6.matches[]":    ext("ipv6", "match"),
		"kernel.missing.ipv6.targets[]":    ext("ipv6", "target"),
		"iptables.host_forward_policy.key": checkVariant,
		"sysctls.key":                      checkSysctlKnown,
		"sysctls.*":                        checkSysctlValue,
		"uplink_mtu":                       checkMTU,
		"cni.mtu":                          checkMTU,
		"cni.backend":                      checkFlannelBackend,
		"kube_proxy.mode":                  checkProxyMode,
		"cni.nat_port_range":               checkAckPorts,
		"provider_firewall.udp_ports":      checkAckPorts,
		"sources.key":                      checkSourceKey,
		"sources.*":                        checkSourceURL,
	}
}

func checkMode(v string) error {
	if v != "legacy" && v != "nft" {
		return fmt.Errorf("%q is not legacy or nft", v)
	}
	return nil
}

func checkVariant(v string) error {
	if v != "legacy" && v != "nft" {
		return fmt.Errorf("variant %q: want legacy or nft", v)
	}
	return nil
}

func checkPolicy(v string) error {
	if v != "ACCEPT" && v != "DROP" {
		return fmt.Errorf("policy %q: want ACCEPT or DROP", v)
	}
	return nil
}

func checkCIDR(v string) error {
	if _, err := netip.ParsePrefix(v); err != nil {
		return fmt.Errorf("%q is not a CIDR (want e.g. 10.1.84.0/24)", v)
	}
	return nil
}

func checkAckPorts(v string) error {
	_, err := gateway.ParsePortRange(v)
	return err
}

func checkBackend(v string) error {
	switch v {
	case "nftables":
		return nil
	case "iptables":
		return fmt.Errorf("%q: the lab runs firewalld with the nftables backend only (RHEL 8+ and Debian default); use nftables", v)
	}
	return fmt.Errorf("%q is not a firewalld backend; use nftables", v)
}

var zoneRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,17}$`)

func checkZone(v string) error {
	if !zoneRE.MatchString(v) {
		return fmt.Errorf("%q is not a firewalld zone name (e.g. public, trusted)", v)
	}
	return nil
}

func checkChain(v string) error {
	if v == "" || len(v) > 28 || strings.ContainsAny(v, " \t,!") {
		return fmt.Errorf("%q is not an iptables chain name (at most 28 characters, no spaces)", v)
	}
	return nil
}

// Check checks a profile and every profile it extends, reporting all
// problems with file and line: strict YAML (unknown fields, wrong types),
// each field's value (known, when not nil, are the extensions iptables
// knows: a kernel profile hiding any other name hides nothing), the image
// recipe, and the merged profile as Load validates it.
func Check(dir, name string, known *kernel.Known) []Problem {
	var out []Problem
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		path := filepath.Join(dir, name+".yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			return // Load below names the missing profile
		}
		ps, parents := checkFile(path, data, known)
		out = append(out, ps...)
		for _, p := range parents {
			walk(p)
		}
	}
	walk(name)
	if len(out) > 0 {
		return out
	}
	if _, err := Load(dir, name); err != nil {
		out = append(out, Problem{File: filepath.Join(dir, name+".yaml"), Msg: err.Error()})
	}
	return out
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// checkFile checks one file alone and returns the profiles it extends.
func checkFile(path string, data []byte, known *kernel.Known) ([]Problem, []string) {
	var out []Problem
	var p Profile
	if err := decodeStrict(data, &p); err != nil {
		for _, l := range strings.Split(err.Error(), "\n") {
			if m := yamlLine.FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				out = append(out, Problem{File: path, Line: n, Msg: strings.TrimSpace(m[2])})
			}
		}
		if len(out) == 0 {
			out = append(out, Problem{File: path, Msg: err.Error()})
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return out, p.Extends
	}
	checks := fieldChecks(known)
	for k, c := range vmFieldChecks() {
		checks[k] = c
	}
	visit(doc.Content[0], "", func(path2 string, n *yaml.Node) {
		if c := checks[path2]; c != nil && n.Kind == yaml.ScalarNode {
			if err := c(n.Value); err != nil {
				out = append(out, Problem{File: path, Line: n.Line, Msg: path2Name(path2) + ": " + err.Error()})
			}
		}
	})
	if p.Image != "" {
		if err := checkImage(filepath.Dir(path), p.Image); err != nil {
			out = append(out, Problem{File: path, Line: lineOf(doc.Content[0], "image"), Msg: err.Error()})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out, p.Extends
}

// path2Name renders a check path for messages (kernel.missing.ipv4.matches).
func path2Name(p string) string {
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(p, "[]"), ".*"), ".key")
}

// visit calls fn for every node with its dotted path: a list item's path
// ends in [], a map value's in .* (also under its own key) and a map key's
// in .key.
func visit(n *yaml.Node, path string, fn func(string, *yaml.Node)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := k.Value
			if path != "" {
				sub = path + "." + k.Value
			}
			if path != "" {
				fn(path+".key", k)
				fn(path+".*", v)
			}
			visit(v, sub, fn)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			visit(c, path+"[]", fn)
		}
	case yaml.AliasNode:
		visit(n.Alias, path, fn)
	default:
		fn(path, n)
	}
}

// lineOf returns the line of a top-level key.
func lineOf(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return 0
}
