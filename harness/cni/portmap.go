package cni

import (
	"encoding/json"
	"net/netip"
)

// CalicoNetwork is the name of Calico's conflist in MicroK8s
// (cni_network_config in upgrade-scripts/000-switch-to-calico/resources/
// calico.yaml: "k8s-pod-network", calico then portmap with snat then
// bandwidth): portmap names its DNAT rules after it.
const CalicoNetwork = "k8s-pod-network"

// PortmapConfList is the portmap step of a conflist whose main plugin
// already ran (Calico's CNI plugin chains portmap the same way, with snat):
// a one-plugin list whose prevResult is the pod's interface and addresses,
// so the real portmap plugin publishes hostPorts for a pod some other code
// wired. podNS is the pod's namespace path.
func PortmapConfList(network, podNS string, addrs []netip.Addr) []byte {
	var ips []map[string]any
	for _, a := range addrs {
		ips = append(ips, map[string]any{"address": netip.PrefixFrom(a, a.BitLen()).String(), "interface": 0})
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       network,
		"plugins": []any{map[string]any{
			"type":         "portmap",
			"capabilities": map[string]bool{"portMappings": true},
			"snat":         true,
			"prevResult": map[string]any{
				"cniVersion": "1.0.0",
				"interfaces": []map[string]any{{"name": "eth0", "sandbox": podNS}},
				"ips":        ips,
			},
		}},
	}
	b, _ := json.Marshal(conf)
	return b
}
