// Package kubeproxy is the lab's side of the real kube-proxy: the Services
// the steps declare, turned into the Service and EndpointSlice objects
// (the API's JSON) that Kubernetes' own iptables Proxier is fed from a file
// inside the node, where to find the binary of a Kubernetes version, and the
// lines it reports every sync with.
//
// The binaries are built from one Go module per Kubernetes version in
// k8s-vMAJOR.MINOR/ (their shared source in _shared/): see README.md there.
// Nothing here writes a rule: the rules, their order, the errors and the
// re-syncs are the Proxier's own.
package kubeproxy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// CanaryChain is the chain kube-proxy creates in mangle, nat and filter and
// watches; when it vanishes, someone flushed the tables and kube-proxy
// re-syncs everything (pkg/proxy/iptables kubeProxyCanaryChain).
const CanaryChain = "KUBE-PROXY-CANARY"

// Endpoint is one ready backend of a Service.
type Endpoint struct {
	IP   netip.Addr
	Port int
}

// Service is one Service port of one IP family.
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
	// NodePort, when not 0, makes the Service type NodePort on that port.
	NodePort int
}

// Config is what kube-proxy is told about the cluster.
type Config struct {
	// ClusterCIDR is the pod CIDR of the family (--cluster-cidr; MicroK8s
	// passes 10.1.0.0/16). Its family is the proxier's.
	ClusterCIDR netip.Prefix
}

// Family returns "ipv4" or "ipv6", kube-proxy's --ip-family value here.
func (c Config) Family() string {
	if c.ClusterCIDR.Addr().Is6() {
		return "ipv6"
	}
	return "ipv4"
}

func (s Service) proto() string {
	if s.Protocol == "" {
		return "TCP"
	}
	return strings.ToUpper(s.Protocol)
}

func ipFamily(a netip.Addr) string {
	if a.Is6() {
		return "IPv6"
	}
	return "IPv4"
}

type obj = map[string]any

// Objects returns the file kube-proxy reads: {"services": [...],
// "endpointSlices": [...]} as the API server would serve them (one
// single-stack Service object per Service and one EndpointSlice with its
// ready endpoints, none when it has no endpoints).
func Objects(svcs []Service) ([]byte, error) {
	services, slices := []obj{}, []obj{}
	for _, s := range svcs {
		if !s.ClusterIP.IsValid() {
			return nil, fmt.Errorf("service %s/%s: no ClusterIP", s.Namespace, s.Name)
		}
		fam := ipFamily(s.ClusterIP)
		port := obj{"name": s.PortName, "port": s.Port, "protocol": s.proto()}
		spec := obj{"type": "ClusterIP", "clusterIP": s.ClusterIP.String(), "clusterIPs": []string{s.ClusterIP.String()},
			"ipFamilies": []string{fam}, "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
			"sessionAffinity": "None", "ports": []obj{port}}
		if len(s.Endpoints) > 0 {
			port["targetPort"] = s.Endpoints[0].Port
		}
		if s.NodePort != 0 {
			spec["type"] = "NodePort"
			spec["externalTrafficPolicy"] = "Cluster"
			port["nodePort"] = s.NodePort
		}
		if s.ClientIPAffinity {
			secs := s.AffinitySeconds
			if secs == 0 {
				secs = 10800
			}
			spec["sessionAffinity"] = "ClientIP"
			spec["sessionAffinityConfig"] = obj{"clientIP": obj{"timeoutSeconds": secs}}
		}
		meta := obj{"name": s.Name, "namespace": s.Namespace}
		services = append(services, obj{"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
		eps := []obj{}
		epPort := 0
		for _, e := range s.Endpoints {
			eps = append(eps, obj{"addresses": []string{e.IP.String()}, "conditions": obj{"ready": true, "serving": true, "terminating": false}})
			epPort = e.Port
		}
		slice := obj{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
			"metadata": obj{"name": s.Name + "-" + strings.ToLower(fam), "namespace": s.Namespace,
				"labels": obj{"kubernetes.io/service-name": s.Name}},
			"addressType": fam, "endpoints": eps}
		if epPort != 0 {
			slice["ports"] = []obj{{"name": s.PortName, "port": epPort, "protocol": s.proto()}}
		}
		slices = append(slices, slice)
	}
	return json.MarshalIndent(obj{"services": services, "endpointSlices": slices}, "", " ")
}

// SyncLine is what the binary prints on stdout after every sync attempt of
// a family: its count and iptables' own error when it failed.
type SyncLine struct {
	Family string `json:"family"`
	Sync   int    `json:"sync"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	// Applied, set on the line a "reload" prints instead of a sync's, counts
	// the reloads handed to the Proxier: every sync line after it started
	// after the change.
	Applied int `json:"applied,omitempty"`
}

// ParseSyncLine parses one stdout line of the binary.
func ParseSyncLine(line []byte) (SyncLine, error) {
	var l SyncLine
	err := json.Unmarshal(line, &l)
	if err == nil && l.Sync == 0 && l.Applied == 0 {
		err = fmt.Errorf("not a sync line: %q", line)
	}
	return l, err
}

// Outcome is what one kube-proxy start did: its first sync.
type Outcome struct {
	// Version is the Kubernetes release of the binary that ran.
	Version string
	// Err is the sync's error, iptables' own text (nil: the rules are in).
	Err error
	// Log is kube-proxy's klog output; Restore the iptables-restore input
	// it wrote, or in nftables mode the nft transaction (empty when the
	// sync failed before it).
	Log, Restore string
}
