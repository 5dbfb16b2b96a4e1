package main

import (
	"context"
	"net"

	v1 "k8s.io/api/core/v1"
	utilsysctl "k8s.io/component-helpers/node/util/sysctl"
	"k8s.io/kubernetes/pkg/proxy/iptables"
	"k8s.io/kubernetes/pkg/proxy/nftables"
	proxyutil "k8s.io/kubernetes/pkg/proxy/util"
	utiliptables "k8s.io/kubernetes/pkg/util/iptables"
	utilexec "k8s.io/utils/exec"
	netutils "k8s.io/utils/net"
	"sigs.k8s.io/knftables"
)

// nftInterface and nftTransaction are the knftables this release's nftables
// Proxier uses (sigs.k8s.io/knftables).
type (
	nftInterface   = knftables.Interface
	nftTransaction = knftables.Transaction
)

// version is the Kubernetes release this module builds (go.mod pins it).
const version = "v1.32.2"

// newProvider builds Kubernetes v1.32's iptables Proxier for one family, or
// its dual-stack meta proxier, as cmd/kube-proxy's server_linux.go does.
func newProvider(ctx context.Context, o options, st *status) (provider, error) {
	exec := utilexec.New()
	var ipt [2]utiliptables.Interface
	detectors := map[v1.IPFamily]proxyutil.LocalTrafficDetector{}
	nodeIPs := map[v1.IPFamily]net.IP{}
	for i, fam := range []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol} {
		proto := utiliptables.ProtocolIPv4
		if fam == v1.IPv6Protocol {
			proto = utiliptables.ProtocolIPv6
		}
		ipt[i] = observed{Interface: utiliptables.New(exec, proto), fam: fam, st: st, dump: o.dump}
		detectors[fam] = proxyutil.NewNoOpLocalDetector()
		for _, c := range o.clusterCIDRs {
			if netutils.IsIPv6CIDRString(c) == (fam == v1.IPv6Protocol) {
				detectors[fam] = proxyutil.NewDetectLocalByCIDR(c)
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
		return iptables.NewDualStackProxier(ctx, ipt, sysctl, exec, o.syncPeriod, o.minSyncPeriod,
			o.masqAll, true, o.masqBit, detectors, o.hostname, nodeIPs, logRecorder{}, nil, nil, false)
	}
	fam := o.families[0]
	i := 0
	if fam == v1.IPv6Protocol {
		i = 1
	}
	p, err := iptables.NewProxier(ctx, fam, ipt[i], sysctl, exec, o.syncPeriod, o.minSyncPeriod,
		o.masqAll, true, o.masqBit, detectors[fam], o.hostname, nodeIPs[fam], logRecorder{}, nil, nil, false)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// newNFTProvider builds Kubernetes v1.32's nftables Proxier (beta, the
// NFTablesProxyMode gate on by default) for one family, or both under the
// meta proxier, as server_linux.go does with --proxy-mode nftables: with no
// --nodeport-addresses it uses the node's primary IPs ("primary", the
// default of the nftables mode since v1.31). Each Proxier's knftables is
// observed (observeNFT).
func newNFTProvider(ctx context.Context, o options, st *status) (provider, error) {
	return nftProviders(o, st, func(fam v1.IPFamily, nodeIP net.IP) (*nftables.Proxier, error) {
		detector := proxyutil.NewNoOpLocalDetector()
		for _, c := range o.clusterCIDRs {
			if netutils.IsIPv6CIDRString(c) == (fam == v1.IPv6Protocol) {
				detector = proxyutil.NewDetectLocalByCIDR(c)
			}
		}
		var nodePorts []string
		if nodeIP != nil {
			nodePorts = []string{nodeIP.String() + map[bool]string{false: "/32", true: "/128"}[netutils.IsIPv6(nodeIP)]}
		}
		return nftables.NewProxier(ctx, fam, o.syncPeriod, o.minSyncPeriod, o.masqAll, o.masqBit,
			detector, o.hostname, nodeIP, logRecorder{}, nil, nodePorts, false)
	})
}
