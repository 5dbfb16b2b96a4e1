package inspect

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Problems lists what in the report breaks MicroK8s networking, one entry
// per problem, with the fix the upstream reports give.
func Problems(r *Report) []Problem {
	var out []Problem
	out = append(out, missingProblems(r)...)
	holds := map[string]int{}
	for _, v := range r.Variants {
		if v.Family != "other" {
			holds[v.Name] += v.Total()
		}
	}
	if holds["legacy"] > 0 && holds["nft"] > 0 {
		out = append(out, Problem{
			Message: fmt.Sprintf("rules are split across iptables-legacy (%d rules) and iptables-nft (%d rules); each variant's tools show only their own rules, so `iptables` (%s) hides the others (microk8s #4387)", holds["legacy"], holds["nft"], orUnknown(r.IptablesVariant)),
			Fix:     "read both (iptables-legacy-save; iptables-nft-save) and make the host's tools and MicroK8s use one variant",
		})
	}
	for _, v := range r.Variants {
		if !strings.HasPrefix(v.ForwardPolicy, "DROP") {
			continue
		}
		if v.Family == "other" {
			out = append(out, Problem{
				Message: fmt.Sprintf("an nftables forward chain has policy %s: routed pod traffic is dropped unless it accepts the pod CIDRs", v.ForwardPolicy),
				Fix:     "accept the pod CIDRs in that chain's firewall (e.g. firewalld: firewall-cmd --permanent --zone=trusted --add-source=10.1.0.0/16 && firewall-cmd --reload)",
			})
			continue
		}
		bin := "iptables-" + v.Name
		if v.Family == "ipv6" {
			bin = "ip6tables-" + v.Name
		}
		out = append(out, Problem{
			Message: fmt.Sprintf("%s FORWARD policy is DROP: pod traffic routed through this node is dropped there, even where the other variant's rules accept it (microk8s #4387)", bin),
			Fix:     fmt.Sprintf("sudo %s -P FORWARD ACCEPT", bin),
		})
	}
	fb := strings.ToLower(r.FelixBackend)
	if (fb == "legacy" || fb == "nft") && r.IptablesVariant != "" && fb != r.IptablesVariant {
		out = append(out, Problem{
			Message: fmt.Sprintf("Felix writes its rules with iptables-%s (FELIX_IPTABLESBACKEND) while the host's iptables is %s: the two variants hide each other's rules", fb, r.IptablesVariant),
			Fix:     fmt.Sprintf("set FELIX_IPTABLESBACKEND to %s in /var/snap/microk8s/current/args/cni-network/cni.yaml and re-apply it, or switch the host's alternatives to iptables-%s", strings.ToUpper(r.IptablesVariant[:1])+r.IptablesVariant[1:], fb),
		})
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown variant"
	}
	return s
}

// missingProblems is one problem per unavailable extension (its families
// joined).
func missingProblems(r *Report) []Problem {
	specs := map[string]Spec{}
	for _, s := range Specs() {
		specs[s.Name] = s
	}
	var names []string
	fams := map[string][]string{}
	details := map[string]string{}
	for _, e := range r.Extensions {
		if e.Available {
			continue
		}
		if _, ok := fams[e.Name]; !ok {
			names = append(names, e.Name)
		}
		fams[e.Name] = append(fams[e.Name], e.Family)
		details[e.Name] = e.Detail
	}
	var out []Problem
	for _, n := range names {
		s := specs[n]
		fam := strings.Join(fams[n], "+")
		v6only := fam == "ipv6"
		switch {
		case n == "MARK":
			what := "IPv4 and IPv6"
			if v6only {
				what = "IPv6"
			} else if fam == "ipv4" {
				what = "IPv4"
			}
			out = append(out, Problem{
				Message: fmt.Sprintf("%s target MARK is missing: Calico Felix and kube-proxy cannot write their %s rules (ip6tables-restore/iptables-restore: %q), so %s Services do not answer (microk8s #5022, #4961)", fam, what, details[n], what),
				Fix:     "boot a kernel that has the MARK target for every family (Ubuntu 24.04: 6.8.0-55 is reported fine, 6.8.0-56/-57 broken; no source names the fixed release, the upstream fix is 306ed1728e84), or run IPv4-only (FELIX_IPV6SUPPORT=false in Calico)",
			})
		case n == "recent":
			out = append(out, Problem{
				Message: fmt.Sprintf("%s match recent is missing: kube-proxy's iptables-restore fails on `-m recent` (%q), so no Service rules are written while any Service has sessionAffinity: ClientIP (microk8s #4387)", fam, details[n]),
				Fix:     "use a kernel with CONFIG_NETFILTER_XT_MATCH_RECENT (on WSL2: build a custom kernel from Microsoft's config-wsl with the missing netfilter options enabled and set kernel= in .wslconfig), or drop sessionAffinity: ClientIP",
			})
		default:
			out = append(out, Problem{
				Message: fmt.Sprintf("%s %s %s is missing (used by %s): rules that use it fail to load (%q)", fam, s.Kind, n, s.UsedBy, details[n]),
				Fix:     fmt.Sprintf("load its module (sudo modprobe %s) or use a kernel built with it", strings.Split(s.Module, "/")[0]),
			})
		}
	}
	return out
}

// Render writes the report for a terminal.
func Render(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target:          %s\n", r.Target)
	fmt.Fprintf(&b, "kernel:          %s\n", r.Kernel)
	if r.KernelProfile != "" {
		fmt.Fprintf(&b, "kernel profile:  %s\n", r.KernelProfile)
	}
	fmt.Fprintf(&b, "iptables:        %s\n", strings.Join(r.Iptables, " -> "))
	fmt.Fprintf(&b, "                 %s (variant: %s)\n", r.IptablesVersion, orUnknown(r.IptablesVariant))
	fmt.Fprintf(&b, "felix backend:   %s\n", r.FelixBackend)
	b.WriteString("\nrules and FORWARD policy per variant:\n")
	for _, v := range r.Variants {
		fmt.Fprintf(&b, "  %-6s %-5s  %4d rules  FORWARD %-8s %s\n", v.Name, v.Family, v.Total(), v.ForwardPolicy, tableCounts(v))
		if v.Error != "" {
			fmt.Fprintf(&b, "                 could not read: %s\n", v.Error)
		}
	}
	b.WriteString("\nnetfilter extensions (a rule tried in a throwaway namespace with iptables-legacy):\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tKIND\tIPV4\tIPV6\tUSED BY")
	avail := map[string]map[string]bool{}
	for _, e := range r.Extensions {
		if avail[e.Name] == nil {
			avail[e.Name] = map[string]bool{}
		}
		avail[e.Name][e.Family] = e.Available
	}
	yes := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSING"
	}
	for _, s := range Specs() {
		if a, ok := avail[s.Name]; ok {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, yes(a["ipv4"]), yes(a["ipv6"]), s.UsedBy)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.Reset()
	if len(r.Problems) == 0 {
		b.WriteString("\nproblems: none found\n")
	} else {
		fmt.Fprintf(&b, "\nproblems (%d):\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  - %s; fix: %s\n", p.Message, p.Fix)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func tableCounts(v Variant) string {
	keys := make([]string, 0, len(v.Rules))
	for k := range v.Rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, v.Rules[k])
	}
	if len(parts) == 0 {
		return "(no tables)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
