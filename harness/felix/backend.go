package felix

import (
	"context"
	"fmt"
	"strings"

	"lab/harness/execx"
)

// Detection is the iptables backend Felix picked and why.
type Detection struct {
	// Configured is FELIX_IPTABLESBACKEND (auto, legacy or nft).
	Configured string
	// Detected is what Felix's detection read off the node: legacy or nft.
	Detected string
	// Backend is the one Felix uses: Detected for auto, else Configured.
	Backend string
	// Reason says which of the detection's tests decided, with the counts
	// read in the node.
	Reason string
}

// DetectBackend runs Felix's backend detection in the node, as DetectBackend
// in felix/environment/feature_detect_linux.go (since Calico v3.26,
// projectcalico/calico#7111; the method of kubernetes-sigs/iptables-wrappers):
// Kubernetes' marker chains (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY) in
// the mangle table of ip(6)tables-nft-save mean nft; else in that of
// ip(6)tables-legacy-save, legacy; else the variant holding more rules of
// both families wins, legacy on a tie (so a node without rules is legacy).
// Commands that fail count as empty output, as Felix ignores their errors.
// configured is FELIX_IPTABLESBACKEND: auto (Felix's default, which
// MicroK8s's calico.yaml keeps), legacy or nft.
func DetectBackend(ctx context.Context, r execx.Runner, configured string) (Detection, error) {
	d := Detection{Configured: strings.ToLower(configured)}
	switch d.Configured {
	case "auto", "legacy", "nft":
	default:
		return d, fmt.Errorf("felix iptables backend %q is not auto, legacy or nft (FELIX_IPTABLESBACKEND)", configured)
	}
	save := func(bin string, args ...string) string {
		out, _ := execx.Output(ctx, r, append([]string{bin}, args...)...)
		return out
	}
	hint := func(s string) bool {
		return strings.Contains(s, "KUBE-IPTABLES-HINT") || strings.Contains(s, "KUBE-KUBELET-CANARY")
	}
	switch {
	case hint(save("ip6tables-nft-save", "-t", "mangle")) || hint(save("iptables-nft-save", "-t", "mangle")):
		d.Detected, d.Reason = "nft", "Kubernetes' marker chain in the nft mangle table"
	case hint(save("ip6tables-legacy-save", "-t", "mangle")) || hint(save("iptables-legacy-save", "-t", "mangle")):
		d.Detected, d.Reason = "legacy", "Kubernetes' marker chain in the legacy mangle table"
	default:
		legacy := countRules(save("ip6tables-legacy-save")) + countRules(save("iptables-legacy-save"))
		nft := countRules(save("ip6tables-nft-save")) + countRules(save("iptables-nft-save"))
		d.Detected = "legacy"
		if nft > legacy {
			d.Detected = "nft"
		}
		d.Reason = fmt.Sprintf("no Kubernetes marker chain; %d legacy rules vs %d nft rules", legacy, nft)
		if legacy == nft {
			d.Reason += " (a tie is legacy)"
		}
	}
	if err := ctx.Err(); err != nil {
		return d, err
	}
	d.Backend = d.Detected
	if d.Configured != "auto" {
		d.Backend = d.Configured
	}
	return d, nil
}

// countRules is countRulesInIptableOutput: lines starting with '-'.
func countRules(save string) int {
	n := 0
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "-") {
			n++
		}
	}
	return n
}
