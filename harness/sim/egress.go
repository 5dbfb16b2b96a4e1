package sim

import (
	"context"
	"fmt"
	"net/netip"

	"lab/harness/agent"
	"lab/harness/execx"
	"lab/harness/gateway"
	"lab/harness/iptables"
	"lab/harness/profile"
)

// InternetHost is a host beyond a provider gateway running a real HTTP
// server (in its agent) that records the peer of every connection.
type InternetHost struct {
	*Node
	// Addr is its address on the internet network; Port its server's port.
	Addr netip.Addr
	Port int
	// Gateway is the provider gateway it sits behind.
	Gateway *Gateway
}

// Gateway is a provider gateway of the cell.
type Gateway struct {
	*gateway.Gateway
	// Host is the gateway's node.
	Host *Node
}

// egress is the cell's provider gateways, internet hosts and pod egress
// NAT rules.
type egress struct {
	gateways map[string]*Gateway
	hosts    map[string]*InternetHost
	masq     map[string][][]string // node/cidr -> the rules' arguments after -A POSTROUTING
}

// ProviderFirewall returns the profile's provider firewall
// (provider_firewall.tcp_ack_ports); a profile without one gives a
// firewall that lets everything through.
func ProviderFirewall(p *profile.Profile) (gateway.Firewall, error) {
	fw := gateway.Firewall{Name: p.ProviderFirewall.Name}
	if p.ProviderFirewall.TCPAckPorts == "" {
		return fw, nil
	}
	r, err := gateway.ParsePortRange(p.ProviderFirewall.TCPAckPorts)
	if err != nil {
		return fw, fmt.Errorf("profile %s: provider_firewall.tcp_ack_ports: %w", p.Name, err)
	}
	fw.AckPorts = &r
	if p.ProviderFirewall.UDPPorts != "" {
		u, err := gateway.ParsePortRange(p.ProviderFirewall.UDPPorts)
		if err != nil {
			return fw, fmt.Errorf("profile %s: provider_firewall.udp_ports: %w", p.Name, err)
		}
		fw.UDPPorts = &u
	}
	return fw, nil
}

// AddGateway boots the provider's gateway on the public network at the
// network's first address (the nodes' default gateway) with the internet
// network behind it, loads the profile's provider firewall, and routes the
// given nodes' traffic through it.
func (c *Cluster) AddGateway(ctx context.Context, name string, internet netip.Prefix, nodes []*Node) (*Gateway, error) {
	fw, err := ProviderFirewall(c.prof)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for _, g := range c.egress.gateways {
		c.mu.Unlock()
		return nil, fmt.Errorf("gateway %s: the cell already has gateway %s at %s", name, g.Name(), g.Public)
	}
	c.mu.Unlock()
	h, err := c.boot(ctx, name, RoleGateway)
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(ctx, c.env, h.Node, netip.PrefixFrom(PublicNet.Addr().Next(), PublicNet.Bits()), internet, fw)
	if err != nil {
		return nil, err
	}
	h.Public = gw.Public
	g := &Gateway{Gateway: gw, Host: h}
	c.mu.Lock()
	c.egress.gateways[name] = g
	c.mu.Unlock()
	for _, n := range nodes {
		if err := n.RouteDefault(ctx, gw.Public); err != nil {
			return nil, fmt.Errorf("route %s through gateway %s: %w", n.Name(), name, err)
		}
	}
	return g, nil
}

// Gateway returns a provider gateway by name.
func (c *Cluster) Gateway(name string) (*Gateway, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.egress.gateways[name]
	return g, ok
}

// AddInternetHost boots a host on the gateway's internet network and runs
// an HTTP server recording its peers on port in it (in the host's agent).
func (c *Cluster) AddInternetHost(ctx context.Context, name, gw string, port int) (*InternetHost, error) {
	g, ok := c.Gateway(gw)
	if !ok {
		return nil, fmt.Errorf("internet host %s: no gateway %q in this cell", name, gw)
	}
	addr, err := g.NextAddr(name)
	if err != nil {
		return nil, err
	}
	h, err := c.boot(ctx, name, RoleInternet)
	if err != nil {
		return nil, err
	}
	if err := c.env.Connect(ctx, h.Node, gateway.InternetNetwork, "eth0", addr); err != nil {
		return nil, fmt.Errorf("internet host %s: %w", name, err)
	}
	if err := h.RouteDefault(ctx, g.Addr()); err != nil {
		return nil, fmt.Errorf("internet host %s: %w", name, err)
	}
	if err := h.Call(ctx, agent.OpPeerServe, agent.PeerServeArgs{Port: port, Ident: name}, nil); err != nil {
		return nil, err
	}
	ih := &InternetHost{Node: h, Addr: addr.Addr(), Port: port, Gateway: g}
	c.mu.Lock()
	c.egress.hosts[name] = ih
	c.mu.Unlock()
	return ih, nil
}

// Peers returns the peers the host's server accepted since the last reset.
func (h *InternetHost) Peers(ctx context.Context, reset bool) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	err := h.Call(ctx, agent.OpPeers, agent.PeersArgs{Reset: reset}, &out)
	return out, err
}

// InternetHost returns an internet host by name.
func (c *Cluster) InternetHost(name string) (*InternetHost, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.egress.hosts[name]
	return h, ok
}

// MasqueradeRules returns the nat POSTROUTING rules (arguments after
// `-A POSTROUTING`) that masquerade pod egress from cidr to anywhere outside
// it, as flannel and Calico write them, with the MASQUERADE target's options
// (e.g. --random-fully). A port range (--to-ports) applies to TCP and UDP
// only, so, like Felix's natPortRange, it yields one rule per protocol and a
// last rule without the range for everything else.
func MasqueradeRules(cidr netip.Prefix, opts []string) [][]string {
	base := []string{"-s", cidr.String(), "!", "-d", cidr.String()}
	rule := func(pre []string, o []string) []string {
		r := append(append(append([]string(nil), base...), pre...), "-j", "MASQUERADE")
		return append(r, o...)
	}
	var plain []string
	ranged := false
	for i := 0; i < len(opts); i++ {
		if opts[i] == "--to-ports" && i+1 < len(opts) {
			ranged = true
			i++
			continue
		}
		plain = append(plain, opts[i])
	}
	if !ranged {
		return [][]string{rule(nil, opts)}
	}
	return [][]string{rule([]string{"-p", "tcp"}, opts), rule([]string{"-p", "udp"}, opts), rule(nil, plain)}
}

// MasqueradePodEgress writes the pod egress masquerade rules for cidr with
// the node's iptables variant, replacing those an earlier call wrote for
// the same cidr (a node-side fix changes the options). It returns the nat
// table as iptables-save prints it afterwards, for evidence.
func (n *Node) MasqueradePodEgress(ctx context.Context, cidr netip.Prefix, opts []string) (string, error) {
	c := n.cluster
	key := n.Name() + "/" + cidr.String()
	c.mu.Lock()
	old := c.egress.masq[key]
	delete(c.egress.masq, key)
	c.mu.Unlock()
	for _, r := range old {
		if _, err := n.Run(ctx, execx.Cmd{Argv: append([]string{"iptables", "-t", "nat", "-D", "POSTROUTING"}, r...)}); err != nil {
			return "", fmt.Errorf("replace pod egress masquerade on %s: %w", n.Name(), err)
		}
	}
	var written [][]string
	for _, r := range MasqueradeRules(cidr, opts) {
		if _, err := n.Run(ctx, execx.Cmd{Argv: append([]string{"iptables", "-t", "nat", "-A", "POSTROUTING"}, r...)}); err != nil {
			c.mu.Lock()
			c.egress.masq[key] = written
			c.mu.Unlock()
			return "", fmt.Errorf("pod egress masquerade on %s: %w", n.Name(), err)
		}
		written = append(written, r)
	}
	c.mu.Lock()
	c.egress.masq[key] = written
	c.mu.Unlock()
	out, err := execx.Output(ctx, n, iptables.Binary("iptables-save", n.cluster.prof.Iptables.Mode), "-t", "nat")
	if err != nil {
		return "", fmt.Errorf("pod egress masquerade on %s: %w", n.Name(), err)
	}
	return out, nil
}
