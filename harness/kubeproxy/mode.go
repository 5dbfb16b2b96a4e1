package kubeproxy

import (
	"fmt"
	"regexp"
	"strconv"
)

// The proxy modes a profile can pin (kube_proxy.mode).
const (
	// ModeIPTables is kube-proxy's iptables Proxier (pkg/proxy/iptables),
	// the default.
	ModeIPTables = "iptables"
	// ModeNFTables is kube-proxy's nftables Proxier (pkg/proxy/nftables):
	// alpha in Kubernetes v1.29 and v1.30 behind the NFTablesProxyMode
	// feature gate (off by default), beta and on by default from v1.31. It
	// writes table `ip kube-proxy` (and `ip6 kube-proxy`) with the node's
	// nft, which must be v1.0.1 or later (knftables refuses older ones).
	ModeNFTables = "nftables"
)

var minorRE = regexp.MustCompile(`^v1\.([0-9]+)\.[0-9]+$`)

// ModeArgs returns the flags kube-proxy of Kubernetes version needs to run
// mode, as a MicroK8s user adds them to
// /var/snap/microk8s/current/args/kube-proxy: none for iptables;
// --proxy-mode nftables, plus --feature-gates NFTablesProxyMode=true where
// the mode is alpha (v1.29, v1.30). A version without the nftables Proxier
// (before v1.29) or an unknown mode is an error naming the fix.
func ModeArgs(mode, version string) ([]string, error) {
	switch mode {
	case "", ModeIPTables:
		return nil, nil
	case ModeNFTables:
	default:
		return nil, fmt.Errorf("%q is not a kube-proxy mode the lab runs; use iptables or nftables", mode)
	}
	m := minorRE.FindStringSubmatch(version)
	if m == nil {
		return nil, fmt.Errorf("kube-proxy mode nftables: %q is not a Kubernetes release like v1.32.2 (microk8s.kubernetes)", version)
	}
	minor, _ := strconv.Atoi(m[1])
	switch {
	case minor < 29:
		return nil, fmt.Errorf("kube-proxy mode nftables: Kubernetes %s has no nftables Proxier (pkg/proxy/nftables is in v1.29 and later); use kube_proxy.mode: iptables", version)
	case minor < 31:
		return []string{"--proxy-mode", ModeNFTables, "--feature-gates", "NFTablesProxyMode=true"}, nil
	}
	return []string{"--proxy-mode", ModeNFTables}, nil
}
