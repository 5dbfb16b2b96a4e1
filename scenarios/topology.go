package scenarios

import (
	"context"
	"fmt"
	"strings"

	"lab/harness/cni"
)

func init() {
	register(Def{Subject: "topology", Pattern: `^a node "([^"]+)"$`,
		Params:  []Param{P("node", Name)},
		cell:    addHost("node"),
		Doc:     "Boots a MicroK8s node with the cell's profile on the public network (198.51.100.0/24), with its pod network (the profile's CNI conflist, the profile's iptables variant). Nodes reach each other's IPv4 pod subnets as flannel does: through flannel.1 VXLAN devices (the profile's cni.backend vxlan, flannel's default: VNI 1, UDP 8472, MTU 50 below the uplink's) or, with host-gw, routes via their public addresses. The first node's subnet is the profile's cni.subnet (10.1.84.0/24), the next nodes get the following ones (10.1.85.0/24, ...).",
		Example: `Given a node "node1"`,
		bind:    func(w *World) any { return w.aNode }})
	register(Def{Subject: "topology", Pattern: `^a client "([^"]+)" on the public network$`,
		Params:  []Param{P("client", Name)},
		cell:    addHost("client"),
		Doc:     "Boots a host outside the cluster on the node's public network, to probe from.",
		Example: `Given a client "client" on the public network`,
		bind:    func(w *World) any { return w.aClient }})
	register(Def{Subject: "topology", Pattern: `^a pod "([^"]+)" on "([^"]+)" serving HTTP with hostPorts "([^"]+)"$`,
		Params:  []Param{P("pod", Name), P("node", Name), P("hostPorts", HostPorts)},
		cell:    addPod,
		Doc:     "Creates a pod sandbox on the node through CNI ADD and runs a real HTTP server in it on each container port. Ports are a comma list of hostPort or hostPort:containerPort, TCP unless suffixed /udp (the server answers UDP on the same port); hostPorts are published by the portmap plugin. On a Calico node the pod is wired as Calico does (routed, its addresses from the node's blocks) and the real portmap plugin is chained after it with snat on, as in Calico's conflist.",
		Example: `Given a pod "ingress" on "node1" serving HTTP with hostPorts "80,443"`,
		bind:    func(w *World) any { return w.aPod }})
}

func (w *World) aNode(ctx context.Context, name string) error {
	return w.D.AddNode(ctx, name)
}

func (w *World) aClient(ctx context.Context, name string) error {
	return w.D.AddClient(ctx, name)
}

func (w *World) aPod(ctx context.Context, pod, node, ports string) error {
	pm, err := ParsePorts(ports)
	if err != nil {
		return err
	}
	ip, err := w.D.AddHostPortPod(ctx, pod, node, pm)
	if err != nil {
		return err
	}
	w.Observe("pod_ip_"+pod, ip.String())
	return nil
}

// ParsePorts parses "80,443", "8080:80,9443:443" or "5353/udp" into port
// mappings (TCP unless /udp).
func ParsePorts(s string) ([]cni.PortMapping, error) {
	var out []cni.PortMapping
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		ports, proto, hasProto := strings.Cut(f, "/")
		if !hasProto {
			proto = "tcp"
		}
		host, ctr, found := strings.Cut(ports, ":")
		if !found {
			ctr = host
		}
		hp, err1 := ParsePort(host)
		cp, err2 := ParsePort(ctr)
		pr, err3 := ParseProtocol(proto)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("bad port %q in %q: want hostPort or hostPort:containerPort, 1-65535, optionally /udp or /tcp", f, s)
		}
		out = append(out, cni.PortMapping{HostPort: hp, ContainerPort: cp, Protocol: pr})
	}
	return out, nil
}
