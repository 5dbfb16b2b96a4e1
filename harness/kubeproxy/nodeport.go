package kubeproxy

import "fmt"

// NodePortsChain is the nat chain KUBE-SERVICES ends in for traffic to a
// local address: it matches NodePorts and jumps to their KUBE-EXT-* chains.
const NodePortsChain = "KUBE-NODEPORTS"

// ExtChain is the KUBE-EXT-* chain of a Service port: external traffic
// (NodePort) is marked for masquerade, then load-balanced by the KUBE-SVC-*
// chain (externalTrafficPolicy: Cluster).
func (s Service) ExtChain() string { return "KUBE-EXT-" + hash(s.portName(), s.proto()) }

// nodePorted returns the Services that publish a NodePort and have
// endpoints (kube-proxy rejects NodePorts without endpoints in the filter
// table; the lab does not model that).
func nodePorted(svcs []Service) []Service {
	var out []Service
	for _, s := range svcs {
		if s.NodePort != 0 && len(s.Endpoints) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// nodePortChains returns the nat chain declarations for NodePorts, empty
// when no Service has one.
func nodePortChains(svcs []Service) []string {
	ns := nodePorted(svcs)
	if len(ns) == 0 {
		return nil
	}
	out := []string{":" + NodePortsChain + " - [0:0]"}
	for _, s := range ns {
		out = append(out, ":"+s.ExtChain()+" - [0:0]")
	}
	return out
}

// nodePortRules returns the nat rules for NodePorts as kube-proxy's
// iptables mode writes them; the jump to KUBE-NODEPORTS is the last rule of
// KUBE-SERVICES, so it must come after every ClusterIP rule.
func nodePortRules(svcs []Service) []string {
	ns := nodePorted(svcs)
	if len(ns) == 0 {
		return nil
	}
	var out []string
	for _, s := range ns {
		out = append(out,
			fmt.Sprintf(`-A %s -m comment --comment "masquerade traffic for %s external destinations" -j KUBE-MARK-MASQ`, s.ExtChain(), s.portName()),
			fmt.Sprintf(`-A %s -j %s`, s.ExtChain(), s.SvcChain()),
			fmt.Sprintf(`-A %s -p %s -m comment --comment "%s" -m %s --dport %d -j %s`, NodePortsChain, s.proto(), s.portName(), s.proto(), s.NodePort, s.ExtChain()))
	}
	return append(out, `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j `+NodePortsChain)
}
