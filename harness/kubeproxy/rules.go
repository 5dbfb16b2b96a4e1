// Package kubeproxy writes Service rules in the exact format kube-proxy's
// iptables mode writes them (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*,
// KUBE-MARK-MASQ with --or-mark 0x4000, `-m recent` for ClientIP affinity),
// applies them with the node's iptables-restore as kube-proxy does, and, like
// kube-proxy, watches a canary chain and re-syncs when something (firewalld's
// start or reload) flushed its rules. Rule generation is pure and tested
// without a kernel.
package kubeproxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strings"
)

// MasqMark is the mark kube-proxy uses for traffic that needs SNAT.
const MasqMark = "0x4000"

// CanaryChain is the chain kube-proxy creates and watches; if it vanishes,
// someone flushed the tables and kube-proxy re-syncs everything.
const CanaryChain = "KUBE-PROXY-CANARY"

// Endpoint is one ready backend of a Service.
type Endpoint struct {
	IP   netip.Addr
	Port int
}

// Service is one Service port.
type Service struct {
	Namespace, Name, PortName string
	ClusterIP                 netip.Addr
	Port                      int
	// Protocol is tcp (default) or udp.
	Protocol  string
	Endpoints []Endpoint
	// ClientIPAffinity is sessionAffinity: ClientIP; AffinitySeconds
	// defaults to 10800 as in Kubernetes.
	ClientIPAffinity bool
	AffinitySeconds  int
	// NodePort, when not 0, also publishes the Service on that port of
	// every local address of the node (type NodePort); see nodeport.go.
	NodePort int
}

func (s Service) proto() string {
	if s.Protocol == "" {
		return "tcp"
	}
	return strings.ToLower(s.Protocol)
}

// portName is kube-proxy's ServicePortName string: ns/name:port.
func (s Service) portName() string {
	return fmt.Sprintf("%s/%s:%s", s.Namespace, s.Name, s.PortName)
}

// hash is kube-proxy's portProtoHash: base32(sha256(...))[:16].
func hash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "")))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// SvcChain is the KUBE-SVC-* chain of a Service port.
func (s Service) SvcChain() string { return "KUBE-SVC-" + hash(s.portName(), s.proto()) }

// SepChain is the KUBE-SEP-* chain of one endpoint.
func (s Service) SepChain(e Endpoint) string {
	return "KUBE-SEP-" + hash(s.portName(), s.proto(), netip.AddrPortFrom(e.IP, uint16(e.Port)).String())
}

// Config is what kube-proxy knows about the cluster.
type Config struct {
	// ClusterCIDR is the pod CIDR of the family (traffic from outside it to
	// a ClusterIP is masqueraded).
	ClusterCIDR netip.Prefix
}

func hostPrefix(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

// Restore returns the iptables-restore input kube-proxy writes for the
// services (one family: all addresses must be of ClusterCIDR's family). It
// holds the nat and filter tables; use with --noflush so other rules stay.
func Restore(cfg Config, svcs []Service) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("*filter")
	w(":KUBE-SERVICES - [0:0]")
	w(":KUBE-FORWARD - [0:0]")
	w(":%s - [0:0]", CanaryChain)
	w("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP")
	w(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark %s/%s -j ACCEPT`, MasqMark, MasqMark)
	w(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`)
	for _, s := range svcs {
		if len(s.Endpoints) == 0 {
			w(`-A KUBE-SERVICES -d %s -p %s -m comment --comment "%s has no endpoints" -m %s --dport %d -j REJECT`,
				hostPrefix(s.ClusterIP), s.proto(), s.portName(), s.proto(), s.Port)
		}
	}
	w("COMMIT")
	w("*nat")
	for _, c := range []string{"KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", CanaryChain} {
		w(":%s - [0:0]", c)
	}
	for _, s := range svcs {
		if len(s.Endpoints) == 0 {
			continue
		}
		w(":%s - [0:0]", s.SvcChain())
		for _, e := range s.Endpoints {
			w(":%s - [0:0]", s.SepChain(e))
		}
	}
	for _, l := range nodePortChains(svcs) {
		w("%s", l)
	}
	w("-A KUBE-POSTROUTING -m mark ! --mark %s/%s -j RETURN", MasqMark, MasqMark)
	w("-A KUBE-POSTROUTING -j MARK --xor-mark %s", MasqMark)
	w(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`)
	w("-A KUBE-MARK-MASQ -j MARK --or-mark %s", MasqMark)
	for _, s := range svcs {
		if len(s.Endpoints) == 0 {
			continue
		}
		comment := s.portName() + " cluster IP"
		w(`-A KUBE-SERVICES -d %s -p %s -m comment --comment "%s" -m %s --dport %d -j %s`,
			hostPrefix(s.ClusterIP), s.proto(), comment, s.proto(), s.Port, s.SvcChain())
		w(`-A %s ! -s %s -d %s -p %s -m comment --comment "%s" -m %s --dport %d -j KUBE-MARK-MASQ`,
			s.SvcChain(), cfg.ClusterCIDR, hostPrefix(s.ClusterIP), s.proto(), comment, s.proto(), s.Port)
		secs := s.AffinitySeconds
		if secs == 0 {
			secs = 10800
		}
		if s.ClientIPAffinity {
			for _, e := range s.Endpoints {
				w(`-A %s -m comment --comment "%s -> %s" -m recent --name %s --mask %s --rsource --rcheck --seconds %d --reap -j %s`,
					s.SvcChain(), s.portName(), netip.AddrPortFrom(e.IP, uint16(e.Port)), s.SepChain(e), fullMask(e.IP), secs, s.SepChain(e))
			}
		}
		n := len(s.Endpoints)
		for i, e := range s.Endpoints {
			prob := ""
			if i < n-1 {
				prob = fmt.Sprintf(" -m statistic --mode random --probability %.11f", 1/float64(n-i))
			}
			w(`-A %s -m comment --comment "%s -> %s"%s -j %s`, s.SvcChain(), s.portName(), netip.AddrPortFrom(e.IP, uint16(e.Port)), prob, s.SepChain(e))
		}
		for _, e := range s.Endpoints {
			sep := s.SepChain(e)
			w(`-A %s -s %s -m comment --comment "%s" -j KUBE-MARK-MASQ`, sep, hostPrefix(e.IP), s.portName())
			rec := ""
			if s.ClientIPAffinity {
				rec = fmt.Sprintf(" -m recent --name %s --mask %s --rsource --set", sep, fullMask(e.IP))
			}
			w(`-A %s -p %s -m comment --comment "%s"%s -m %s -j DNAT --to-destination %s`,
				sep, s.proto(), s.portName(), rec, s.proto(), netip.AddrPortFrom(e.IP, uint16(e.Port)))
		}
	}
	for _, l := range nodePortRules(svcs) {
		w("%s", l)
	}
	w("COMMIT")
	return b.String()
}

func fullMask(a netip.Addr) string {
	if a.Is4() {
		return "255.255.255.255"
	}
	return "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
}

// Jumps are the rules kube-proxy ensures in the built-in chains (with
// `iptables -C` then `-I`), outside its restore payload: table, chain, args.
var Jumps = [][]string{
	{"filter", "INPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
	{"filter", "FORWARD", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
	{"filter", "FORWARD", "-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"},
	{"filter", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
	{"nat", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
	{"nat", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
	{"nat", "POSTROUTING", "-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"},
}
