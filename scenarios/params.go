package scenarios

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lab/harness/driver"
	"lab/harness/iptables"
)

// Type is the type of one step parameter: what it accepts, checked by
// `lab check` before anything boots with the same parser the step function
// uses when it runs.
type Type struct {
	// Name is how docs and errors call it ("port", "CIDR list").
	Name string
	// Doc says what it accepts.
	Doc string
	// Check parses a value and says what is wrong with it.
	Check func(string) error
}

// Param is one capture group of a step's Pattern, in order.
type Param struct {
	// Name says what the parameter is in this step ("pod", "node").
	Name string
	Type Type
	// Optional: the group may match nothing (the step's default applies).
	Optional bool
}

// P declares a parameter of a step.
func P(name string, t Type) Param { return Param{Name: name, Type: t} }

// Opt declares an optional parameter of a step.
func Opt(name string, t Type) Param { return Param{Name: name, Type: t, Optional: true} }

// Limits of parameter values.
const (
	// MaxConnections bounds a batch of connections.
	MaxConnections = 20000
	// MaxPayload bounds a payload-size probe (bytes).
	MaxPayload = 65000
)

// Types lists the parameter types, for docs.
func Types() []Type {
	return []Type{Name, NameList, Port, PortList, HostPorts, Count, Size, CIDR, Pools, IPList, Duration, Family, Protocol, Condition, Command, Table, Chain, URLPath, Routes, Text}
}

// Parameter types of the vocabulary.
var (
	// Name is one name: a node, host, pod, Service or observation.
	Name = Type{"name", "one name (node, host, pod, Service, observation): no commas, spaces or quotes", func(s string) error { _, err := ParseName(s); return err }}
	// NameList is a comma list of names.
	NameList = Type{"name list", "comma list of names, each once", func(s string) error { _, err := ParseNameList(s); return err }}
	// Port is a TCP/UDP port, 1-65535.
	Port = Type{"port", "1-65535", func(s string) error { _, err := ParsePort(s); return err }}
	// PortList is a comma list of ports.
	PortList = Type{"port list", "comma list of ports", func(s string) error { _, err := ParsePortList(s); return err }}
	// HostPorts is a comma list of hostPort or hostPort:containerPort.
	HostPorts = Type{"hostPort list", "comma list of hostPort or hostPort:containerPort (1-65535), each TCP unless suffixed /udp", func(s string) error { _, err := ParsePorts(s); return err }}
	// Count is a number of connections or packets, 1-20000.
	Count = Type{"count", "1-20000", func(s string) error { _, err := ParseCount(s); return err }}
	// Size is a payload size in bytes.
	Size = Type{"size", "bytes, 1-65000", func(s string) error { _, err := ParseSize(s); return err }}
	// CIDR is an IPv4 or IPv6 prefix.
	CIDR = Type{"CIDR", "an IPv4 or IPv6 prefix, e.g. 203.0.113.0/24", func(s string) error { _, err := ParseCIDR(s); return err }}
	// Pools is a comma list of pod CIDRs, at most one per family.
	Pools = Type{"pod CIDR list", "comma list of CIDRs, at most one per family, each at least one Calico block (/26, /122)", func(s string) error { _, err := driver.ParsePools(s); return err }}
	// IPList is a comma list of addresses, at most one per family.
	IPList = Type{"IP list", "comma list of addresses, at most one per family", func(s string) error { _, err := ParseIPList(s); return err }}
	// Duration is a Go duration ("500ms", "2s").
	Duration = Type{"duration", "a Go duration, e.g. 500ms or 2s, at most 10m", func(s string) error { _, err := ParseDuration(s); return err }}
	// Family is ipv4 or ipv6.
	Family = Type{"family", "ipv4 or ipv6", func(s string) error { _, err := ParseFamily(s); return err }}
	// Protocol is tcp or udp.
	Protocol = Type{"protocol", "TCP or UDP", func(s string) error { _, err := ParseProtocol(s); return err }}
	// Condition is an expectation's condition.
	Condition = Type{"condition", "see Conditions above", func(s string) error { _, err := ParseCond(s); return err }}
	// Command is a command line, split like a shell.
	Command = Type{"command", "a command line; words split like a shell (double quotes group)", func(s string) error { _, err := ParseCommand(s); return err }}
	// Table is an iptables table.
	Table = Type{"iptables table", "filter, nat, mangle, raw or security", func(s string) error { _, err := ParseTable(s); return err }}
	// Chain is an iptables chain name.
	Chain = Type{"chain", "an iptables chain name (at most 28 characters)", func(s string) error { _, err := ParseChain(s); return err }}
	// URLPath is an HTTP path.
	URLPath = Type{"path", "an HTTP path starting with /", func(s string) error { _, err := ParsePath(s); return err }}
	// Routes is an ingress's route list.
	Routes = Type{"route list", "comma list of PATH=UPSTREAM, UPSTREAM service:NAME, pod:NAME or IP:PORT", func(s string) error { _, err := ParseRoutes(s); return err }}
	// Text is free text (options, literal words the pattern fixes).
	Text = Type{"text", "free text (or a word the pattern fixes)", func(string) error { return nil }}
)

// ParseName parses one name: no commas, spaces or quotes.
func ParseName(s string) (string, error) {
	if s == "" || strings.ContainsAny(s, ", \t\"<>") {
		if strings.Contains(s, ",") {
			return "", fmt.Errorf("%q is a list where one name is expected; name one", s)
		}
		return "", fmt.Errorf("bad name %q: want letters, digits, '-', '_' or '.'", s)
	}
	return s, nil
}

// ParseNameList parses a comma list of names.
func ParseNameList(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		n, err := ParseName(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("in %q: %w", s, err)
		}
		if seen[n] {
			return nil, fmt.Errorf("%q names %s twice", s, n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// ParsePort parses a port, 1-65535.
func ParsePort(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 || v > 65535 {
		return 0, fmt.Errorf("bad port %q: want 1-65535", s)
	}
	return v, nil
}

// ParsePortList parses a comma list of ports.
func ParsePortList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		p, err := ParsePort(f)
		if err != nil {
			return nil, fmt.Errorf("in %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseCount parses a count of connections or packets, 1-20000.
func ParseCount(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 || v > MaxConnections {
		return 0, fmt.Errorf("bad count %q: want 1-%d", s, MaxConnections)
	}
	return v, nil
}

// ParseSize parses a payload size in bytes, 1-65000.
func ParseSize(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 || v > MaxPayload {
		return 0, fmt.Errorf("bad size %q: want 1-%d bytes", s, MaxPayload)
	}
	return v, nil
}

// ParseCIDR parses an IPv4 or IPv6 prefix ("203.0.113.0/24").
func ParseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad CIDR %q: want ADDRESS/BITS, e.g. 203.0.113.0/24", s)
	}
	return p, nil
}

// ParseIPList parses a comma list of addresses, at most one per family.
func ParseIPList(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[bool]bool{}
	for _, f := range strings.Split(s, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("bad IP %q in %q", strings.TrimSpace(f), s)
		}
		if seen[a.Is4()] {
			return nil, fmt.Errorf("%q has more than one address of the same family", s)
		}
		seen[a.Is4()] = true
		out = append(out, a)
	}
	return out, nil
}

// ParseDuration parses a Go duration, more than 0 and at most 10 minutes.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 || d > 10*time.Minute {
		return 0, fmt.Errorf("bad duration %q: want e.g. 500ms or 2s (at most 10m)", s)
	}
	return d, nil
}

// ParseFamily turns ipv4/ipv6 into 4/6.
func ParseFamily(s string) (int, error) {
	switch s {
	case "ipv4":
		return 4, nil
	case "ipv6":
		return 6, nil
	}
	return 0, fmt.Errorf("bad family %q: want ipv4 or ipv6", s)
}

// ParseProtocol parses tcp or udp (any case) into lower case.
func ParseProtocol(s string) (string, error) {
	switch p := strings.ToLower(s); p {
	case "tcp", "udp":
		return p, nil
	}
	return "", fmt.Errorf("bad protocol %q: want TCP or UDP", s)
}

// ParseCommand splits a command line like a shell (double quotes group).
func ParseCommand(s string) ([]string, error) {
	argv, err := iptables.SplitArgs(s)
	if err != nil {
		return nil, fmt.Errorf("cannot split command %q: %w", s, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return argv, nil
}

// ParseTable parses an iptables table name.
func ParseTable(s string) (string, error) {
	switch s {
	case "filter", "nat", "mangle", "raw", "security":
		return s, nil
	}
	return "", fmt.Errorf("bad table %q: want filter, nat, mangle, raw or security", s)
}

// ParseChain parses an iptables chain name (at most 28 characters).
func ParseChain(s string) (string, error) {
	if s == "" || len(s) > 28 || strings.ContainsAny(s, " \t,!\"") {
		return "", fmt.Errorf("bad chain name %q: at most 28 characters, no spaces", s)
	}
	return s, nil
}

// ParsePath parses an HTTP path ("/setup").
func ParsePath(s string) (string, error) {
	if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " \t") {
		return "", fmt.Errorf("bad path %q: want /SOMETHING", s)
	}
	return s, nil
}

// Route is one route of an ingress: a path prefix and its upstream.
type Route struct{ Path, Upstream string }

// ParseRoutes parses PATH=UPSTREAM pairs, UPSTREAM being service:NAME,
// pod:NAME or IP:PORT.
func ParseRoutes(s string) ([]Route, error) {
	var out []Route
	for _, f := range strings.Split(s, ",") {
		path, target, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return nil, fmt.Errorf("bad route %q in %q: want PATH=UPSTREAM", f, s)
		}
		if _, err := ParsePath(path); err != nil {
			return nil, fmt.Errorf("route %q: %w", f, err)
		}
		kind, name, _ := strings.Cut(target, ":")
		switch kind {
		case "service", "pod":
			if _, err := ParseName(name); err != nil {
				return nil, fmt.Errorf("route %q: %w", f, err)
			}
		default:
			if _, err := netip.ParseAddrPort(target); err != nil {
				return nil, fmt.Errorf("route %q: upstream %q: want service:NAME, pod:NAME or IP:PORT", f, target)
			}
		}
		out = append(out, Route{Path: path, Upstream: target})
	}
	return out, nil
}
