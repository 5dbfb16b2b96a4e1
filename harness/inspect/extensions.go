package inspect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"lab/harness/execx"
	"lab/harness/netns"
)

// NamespacePrefix starts the name of every throwaway namespace inspect
// creates to probe extensions in.
const NamespacePrefix = "lab-inspect-"

// Spec is one netfilter extension and the rule that needs it.
type Spec struct {
	// Name is the kernel's name: matches lowercase (recent), targets
	// uppercase (MARK).
	Name string
	// Kind is match or target.
	Kind string
	// Module is the kernel module that provides it.
	Module string
	// UsedBy says which MicroK8s components write rules with it.
	UsedBy string
	// Table and Chain are where the probe rule goes.
	Table, Chain string
	// Args4 and Args6 are the probe rule (after -A CHAIN) per family.
	Args4, Args6 []string
}

func same(a ...string) ([]string, []string) { return a, a }

func spec(name, kind, module, usedBy, table, chain string, a4, a6 []string) Spec {
	return Spec{Name: name, Kind: kind, Module: module, UsedBy: usedBy, Table: table, Chain: chain, Args4: a4, Args6: a6}
}

// Specs are the extensions MicroK8s' components use, in report order.
func Specs() []Spec {
	a := func(args ...string) []string { return args }
	s := []Spec{}
	add := func(name, kind, module, usedBy, table, chain string, a4, a6 []string) {
		s = append(s, spec(name, kind, module, usedBy, table, chain, a4, a6))
	}
	r4, r6 := same("-m", "recent", "--name", "labprobe", "--set")
	add("recent", "match", "xt_recent", "kube-proxy (sessionAffinity: ClientIP)", "filter", "INPUT", r4, r6)
	m4, m6 := same("-j", "MARK", "--set-mark", "0x1")
	add("MARK", "target", "xt_mark", "kube-proxy (KUBE-MARK-MASQ), Calico Felix (policy marks)", "mangle", "PREROUTING", m4, m6)
	c4, c6 := same("-j", "CONNMARK", "--set-mark", "0x1")
	add("CONNMARK", "target", "xt_connmark", "Calico (WireGuard, egress)", "mangle", "PREROUTING", c4, c6)
	cm4, cm6 := same("-m", "connmark", "--mark", "0x1")
	add("connmark", "match", "xt_connmark", "Calico (WireGuard, egress)", "filter", "INPUT", cm4, cm6)
	co4, co6 := same("-m", "comment", "--comment", "labprobe")
	add("comment", "match", "xt_comment", "kube-proxy, Calico, flannel, CNI portmap", "filter", "INPUT", co4, co6)
	ct4, ct6 := same("-m", "conntrack", "--ctstate", "ESTABLISHED")
	add("conntrack", "match", "xt_conntrack", "kube-proxy, Calico, flannel", "filter", "INPUT", ct4, ct6)
	mp4, mp6 := same("-p", "tcp", "-m", "multiport", "--dports", "80,443")
	add("multiport", "match", "xt_multiport", "kube-proxy, Calico", "filter", "INPUT", mp4, mp6)
	at4, at6 := same("-m", "addrtype", "--dst-type", "LOCAL")
	add("addrtype", "match", "xt_addrtype", "kube-proxy (NodePorts), CNI portmap", "filter", "INPUT", at4, at6)
	st4, st6 := same("-m", "statistic", "--mode", "random", "--probability", "0.5")
	add("statistic", "match", "xt_statistic", "kube-proxy (endpoint load balancing)", "filter", "INPUT", st4, st6)
	mk4, mk6 := same("-m", "mark", "--mark", "0x1")
	add("mark", "match", "xt_mark", "kube-proxy, Calico Felix", "filter", "INPUT", mk4, mk6)
	se4, se6 := same("-m", "set", "--match-set", "labprobe", "src")
	add("set", "match", "xt_set", "Calico Felix (ipsets)", "filter", "INPUT", se4, se6)
	ma4, ma6 := same("-j", "MASQUERADE")
	add("MASQUERADE", "target", "xt_MASQUERADE", "kube-proxy, flannel, Calico (natOutgoing)", "nat", "POSTROUTING", ma4, ma6)
	add("DNAT", "target", "xt_nat", "kube-proxy, CNI portmap", "nat", "PREROUTING",
		a("-p", "tcp", "-j", "DNAT", "--to-destination", "192.0.2.1:80"), a("-p", "tcp", "-j", "DNAT", "--to-destination", "[2001:db8::1]:80"))
	add("SNAT", "target", "xt_nat", "kube-proxy, CNI portmap", "nat", "POSTROUTING",
		a("-j", "SNAT", "--to-source", "192.0.2.1"), a("-j", "SNAT", "--to-source", "2001:db8::1"))
	re4, re6 := same("-j", "REJECT")
	add("REJECT", "target", "ipt_REJECT/ip6t_REJECT", "kube-proxy (Services without endpoints), Calico", "filter", "INPUT", re4, re6)
	nq4, nq6 := same("-j", "NFQUEUE", "--queue-num", "0")
	add("NFQUEUE", "target", "xt_NFQUEUE", "Calico (DNS policy)", "filter", "INPUT", nq4, nq6)
	iv4, iv6 := same("-m", "ipvs", "--ipvs")
	add("ipvs", "match", "xt_ipvs", "kube-proxy (IPVS mode)", "filter", "INPUT", iv4, iv6)
	return s
}

// Extension is the probed availability of one extension in one family.
type Extension struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Family string `json:"family"`
	// Available: a rule using it was accepted by the kernel.
	Available bool `json:"available"`
	// Detail is iptables' complaint when it is not ("Warning: Extension
	// recent revision 0 not supported, missing kernel module?").
	Detail string `json:"detail,omitempty"`
}

// Classify reads the outcome of a probe rule: nil error means available;
// the set match is available when the kernel only complains that the probe
// set does not exist (it looked the set up, so the extension is there).
func Classify(s Spec, output string, err error) (bool, string) {
	if err == nil {
		return true, ""
	}
	if s.Name == "set" && strings.Contains(output, "doesn't exist") {
		return true, ""
	}
	if w := Warnings(output); len(w) > 0 {
		return false, fmt.Sprintf("Warning: Extension %s revision 0 not supported, missing kernel module?", w[0])
	}
	for _, l := range strings.Split(strings.TrimSpace(output), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return false, l
		}
	}
	return false, err.Error()
}

// Probe tries every spec in both families in a throwaway namespace
// (NamespacePrefix + random), adding one rule per extension with
// iptables-legacy / ip6tables-legacy run with env (nil: lab's own), and
// deletes the namespace. Probing may load the extensions' kernel modules;
// it never touches the rules of the namespace lab inspect looks at.
func Probe(ctx context.Context, env []string) (exts []Extension, err error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := NamespacePrefix + hex.EncodeToString(b)
	path, err := netns.Create(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("probe namespace: %w", err)
	}
	defer func() {
		if derr := netns.Delete(context.WithoutCancel(ctx), name); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	r := netns.Runner{Path: path, Env: env}
	for _, s := range Specs() {
		for _, fam := range []string{"ipv4", "ipv6"} {
			bin, args := "iptables-legacy", s.Args4
			if fam == "ipv6" {
				bin, args = "ip6tables-legacy", s.Args6
			}
			argv := append([]string{bin, "-w", "-t", s.Table, "-A", s.Chain}, args...)
			res, rerr := r.Run(ctx, execx.Cmd{Argv: argv})
			if ctx.Err() != nil {
				return exts, ctx.Err()
			}
			ok, detail := Classify(s, string(res.Stderr)+string(res.Stdout), rerr)
			exts = append(exts, Extension{Name: s.Name, Kind: s.Kind, Family: fam, Available: ok, Detail: detail})
		}
	}
	return exts, nil
}
