package inspect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"lab/harness/execx"
	"lab/harness/kernel"
)

// DefaultSnapDir is where a MicroK8s install keeps its current data.
const DefaultSnapDir = "/var/snap/microk8s/current"

// Options say what to inspect.
type Options struct {
	// Target names it in the report ("host", "node node1 (...)").
	Target string
	// Runner runs commands where the inspection looks (execx.Host{} for the
	// host, a netns.Runner for a node).
	Runner execx.Runner
	// Env is the environment the inspected machine's components run with
	// (a node's PATH and kernel profile); nil means lab's own.
	Env []string
	// SnapDir is MicroK8s' data directory (default DefaultSnapDir).
	SnapDir string
	// KernelProfile describes a kernel profile the target emulates, if any.
	KernelProfile string
}

// Variant is what one iptables variant holds for one family.
type Variant struct {
	Name   string `json:"name"`   // legacy or nft
	Family string `json:"family"` // ipv4 or ipv6 (nft: both)
	// Rules counts rules per table ("filter", or "ip filter" for nft).
	Rules map[string]int `json:"rules"`
	// ForwardPolicy is the FORWARD policy iptables-<name> shows for the
	// family ("ACCEPT" when no filter table exists: nothing filters).
	ForwardPolicy string `json:"forward_policy"`
	// Error says why the variant could not be read, if it could not.
	Error string `json:"error,omitempty"`
}

// Total is the number of rules the variant holds.
func (v Variant) Total() int {
	n := 0
	for _, c := range v.Rules {
		n += c
	}
	return n
}

// Problem is one thing that breaks MicroK8s networking, with its fix.
type Problem struct {
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// Report is the result of an inspection.
type Report struct {
	Target        string `json:"target"`
	Kernel        string `json:"kernel"`
	KernelProfile string `json:"kernel_profile,omitempty"`
	// Iptables is the chain of links `iptables` resolves through, ending in
	// the binary (the alternatives' choice), and what `iptables -V` says.
	Iptables        []string    `json:"iptables"`
	IptablesVersion string      `json:"iptables_version"`
	IptablesVariant string      `json:"iptables_variant"`
	Variants        []Variant   `json:"variants"`
	FelixBackend    string      `json:"felix_backend"`
	Extensions      []Extension `json:"extensions"`
	Problems        []Problem   `json:"problems"`
}

func (o *Options) out(ctx context.Context, argv ...string) (string, error) {
	res, err := o.Runner.Run(ctx, execx.Cmd{Argv: argv})
	return string(res.Stdout), err
}

// Gather inspects the target. A part that cannot be read is reported in
// place (Variant.Error, "unknown"); only a failure to probe extensions is
// returned as an error, with the partial report.
func Gather(ctx context.Context, o Options) (*Report, error) {
	r := &Report{Target: o.Target, KernelProfile: o.KernelProfile}
	r.Kernel = kernel.Release()
	r.Iptables = resolve("iptables", o.Env)
	if out, err := o.out(ctx, "iptables", "-V"); err == nil {
		r.IptablesVersion = strings.TrimSpace(out)
		_, r.IptablesVariant = ParseVersion(out)
	} else {
		r.IptablesVersion = "unknown: " + err.Error()
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		r.Variants = append(r.Variants, o.legacy(ctx, fam))
	}
	r.Variants = append(r.Variants, o.nft(ctx)...)
	r.FelixBackend = felixBackend(o.SnapDir)
	exts, err := Probe(ctx, o.Env)
	r.Extensions = exts
	r.Problems = Problems(r)
	return r, err
}

func (o *Options) legacy(ctx context.Context, fam string) Variant {
	v := Variant{Name: "legacy", Family: fam, Rules: map[string]int{}, ForwardPolicy: "ACCEPT"}
	save, names, bin := "iptables-legacy-save", "/proc/net/ip_tables_names", "iptables-legacy"
	if fam == "ipv6" {
		save, names, bin = "ip6tables-legacy-save", "/proc/net/ip6_tables_names", "ip6tables-legacy"
	}
	// *-save reads only tables that exist; it never creates one.
	out, err := o.out(ctx, save)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	if v.Rules, err = CountRules(out); err != nil {
		v.Error = err.Error()
		return v
	}
	// Listing FORWARD would instantiate the filter table; look first.
	tables, err := o.out(ctx, "cat", names)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	for _, t := range ParseTableNames(tables) {
		if t != "filter" {
			continue
		}
		s, err := o.out(ctx, bin, "-w", "-t", "filter", "-S", "FORWARD")
		if err == nil {
			v.ForwardPolicy, err = ParseForwardPolicy(s)
		}
		if err != nil {
			v.Error = err.Error()
		}
	}
	return v
}

// nft reads nf_tables: iptables-nft's IPv4 tables live in family ip, its
// IPv6 tables in ip6; tables of other families (inet, bridge, arp, netdev:
// firewalld, native nft rule sets) are counted as family "other".
func (o *Options) nft(ctx context.Context) []Variant {
	out, err := o.out(ctx, "nft", "-j", "list", "ruleset")
	var n *NFT
	if err == nil {
		n, err = ParseNFT([]byte(out))
	}
	var vs []Variant
	for _, fam := range []string{"ipv4", "ipv6", "other"} {
		v := Variant{Name: "nft", Family: fam, Rules: map[string]int{}, ForwardPolicy: "ACCEPT"}
		if err != nil {
			v.Error = err.Error()
			vs = append(vs, v)
			continue
		}
		for t, c := range n.Rules {
			if nftFamily(strings.Fields(t)[0]) == fam {
				v.Rules[t] = c
			}
		}
		switch fam {
		case "other":
			for chain, pol := range n.ForwardPolicy {
				if nftFamily(strings.Fields(chain)[0]) == "other" && pol == "DROP" {
					v.ForwardPolicy = "DROP (" + chain + ")"
				}
			}
		default:
			v.ForwardPolicy = n.Policy(fam == "ipv6", "FORWARD")
		}
		vs = append(vs, v)
	}
	return vs
}

func nftFamily(f string) string {
	switch f {
	case "ip":
		return "ipv4"
	case "ip6":
		return "ipv6"
	}
	return "other"
}

func felixBackend(snapDir string) string {
	if snapDir == "" {
		snapDir = DefaultSnapDir
	}
	data, err := os.ReadFile(filepath.Join(snapDir, "args", "cni-network", "cni.yaml"))
	if errors.Is(err, os.ErrNotExist) {
		return "not installed"
	}
	if err != nil {
		return "unknown: " + err.Error()
	}
	if b := FelixBackend(string(data)); b != "" {
		return b
	}
	return "auto (FELIX_IPTABLESBACKEND not set in cni.yaml)"
}

// resolve follows name through PATH (of env, or lab's own) and symlinks:
// ["/usr/sbin/iptables", "/etc/alternatives/iptables", "/usr/sbin/iptables-nft",
// "/usr/sbin/xtables-nft-multi"].
func resolve(name string, env []string) []string {
	path := os.Getenv("PATH")
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	var p string
	for _, dir := range filepath.SplitList(path) {
		c := filepath.Join(dir, name)
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			p = c
			break
		}
	}
	if p == "" {
		return []string{name + ": not found in PATH"}
	}
	chain := []string{p}
	for i := 0; i < 10; i++ {
		t, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		chain = append(chain, t)
		p = t
	}
	return chain
}

// Missing returns the extensions probed unavailable, as "family kind name".
func (r *Report) Missing() []string {
	var out []string
	for _, e := range r.Extensions {
		if !e.Available {
			out = append(out, fmt.Sprintf("%s %s %s", e.Family, e.Kind, e.Name))
		}
	}
	return out
}
