package main

import (
	"context"
	"net"

	v1 "k8s.io/api/core/v1"
	utilsysctl "k8s.io/component-helpers/node/util/sysctl"
	"k8s.io/kubernetes/pkg/proxy/iptables"
	"k8s.io/kubernetes/pkg/proxy/nftables"
	proxyutiliptables "k8s.io/kubernetes/pkg/proxy/util/iptables"
	utiliptables "k8s.io/kubernetes/pkg/util/iptables"
	utilexec "k8s.io/utils/exec"
	netutils "k8s.io/utils/net"

	"github.com/danwinship/knftables"
)

// nftInterface and nftTransaction are the knftables this release's nftables
// Proxier uses (github.com/danwinship/knftables).
type (
	nftInterface   = knftables.Interface
	nftTransaction = knftables.Transaction
)

// version is the Kubernetes release this module builds (go.mod pins it).
const version = "v1.29.15"

// newProvider builds Kubernetes v1.29's iptables Proxier for one family, or
// its dual-stack meta proxier, as cmd/kube-proxy's server_others.go does.
func newProvider(_ context.Context, o options, st *status) (provider, error) {
	exec := utilexec.New()
	var ipt [2]utiliptables.Interface
	var detectors [2]proxyutiliptables.LocalTrafficDetector
	nodeIPs := map[v1.IPFamily]net.IP{}
	for i, fam := range []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol} {
		proto := utiliptables.ProtocolIPv4
		if fam == v1.IPv6Protocol {
			proto = utiliptables.ProtocolIPv6
		}
		ipt[i] = observed{Interface: utiliptables.New(exec, proto), fam: fam, st: st, dump: o.dump}
		detectors[i] = proxyutiliptables.NewNoOpLocalDetector()
		for _, c := range o.clusterCIDRs {
			if netutils.IsIPv6CIDRString(c) == (fam == v1.IPv6Protocol) {
				d, err := proxyutiliptables.NewDetectLocalByCIDR(c)
				if err != nil {
					return nil, err
				}
				detectors[i] = d
			}
		}
		for _, s := range o.nodeIPs {
			if ip := netutils.ParseIPSloppy(s); ip != nil && netutils.IsIPv6(ip) == (fam == v1.IPv6Protocol) {
				nodeIPs[fam] = ip
			}
		}
	}
	sysctl := utilsysctl.New()
	if len(o.families) == 2 {
		return iptables.NewDualStackProxier(ipt, sysctl, exec, o.syncPeriod, o.minSyncPeriod,
			o.masqAll, true, o.masqBit, detectors, o.hostname, nodeIPs, logRecorder{}, nil, nil, false)
	}
	fam := o.families[0]
	i := 0
	if fam == v1.IPv6Protocol {
		i = 1
	}
	p, err := iptables.NewProxier(fam, ipt[i], sysctl, exec, o.syncPeriod, o.minSyncPeriod,
		o.masqAll, true, o.masqBit, detectors[i], o.hostname, nodeIPs[fam], logRecorder{}, nil, nil, false)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// newNFTProvider builds Kubernetes v1.29's nftables Proxier (alpha: the
// NFTablesProxyMode gate must be on, --feature-gates
// NFTablesProxyMode=true) for one family, or both under the meta proxier,
// as server_others.go does with --proxy-mode nftables (no
// --nodeport-addresses: every local IP). Each Proxier's knftables is
// observed (observeNFT).
func newNFTProvider(_ context.Context, o options, st *status) (provider, error) {
	return nftProviders(o, st, func(fam v1.IPFamily, nodeIP net.IP) (*nftables.Proxier, error) {
		detector := proxyutiliptables.NewNoOpLocalDetector()
		for _, c := range o.clusterCIDRs {
			if netutils.IsIPv6CIDRString(c) == (fam == v1.IPv6Protocol) {
				d, err := proxyutiliptables.NewDetectLocalByCIDR(c)
				if err != nil {
					return nil, err
				}
				detector = d
			}
		}
		return nftables.NewProxier(fam, utilsysctl.New(), o.syncPeriod, o.minSyncPeriod, o.masqAll, o.masqBit,
			detector, o.hostname, nodeIP, logRecorder{}, nil, nil, false)
	})
}
