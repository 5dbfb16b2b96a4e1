package sim

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"lab/harness/execx"
	"lab/harness/gateway"
	"lab/harness/iptables"
	"lab/harness/profile"
)

// InternetHost is a host beyond a provider gateway running a real HTTP
// server that records the peer of every connection.
type InternetHost struct {
	// Name is the host's name in the feature.
	Name string
	// Addr is its address on the internet network; Port its server's port.
	Addr netip.Addr
	Port int
	// Gateway is the provider gateway it sits behind.
	Gateway *gateway.Gateway
	// Server is its HTTP server.
	Server *gateway.Server
	// NetNS is the path of its network namespace.
	NetNS string
}

// egress is the cell's provider gateways, internet hosts and pod egress
// NAT rules, kept in Ext.
type egress struct {
	mu       sync.Mutex
	gateways map[string]*gateway.Gateway
	hosts    map[string]*InternetHost
	masq     map[string][][]string // node/cidr -> the rules' arguments after -A POSTROUTING
}

func (c *Cluster) egress() *egress {
	return c.Ext("egress", func() any {
		return &egress{gateways: map[string]*gateway.Gateway{}, hosts: map[string]*InternetHost{}, masq: map[string][][]string{}}
	}).(*egress)
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
	return fw, nil
}

// AddGateway boots the provider's gateway on the public network at the
// network's first address (the nodes' default gateway) with the internet
// network behind it, loads the profile's provider firewall, and routes the
// given nodes' traffic through it.
func (c *Cluster) AddGateway(ctx context.Context, name string, internet netip.Prefix, nodes []*Node) (*gateway.Gateway, error) {
	fw, err := ProviderFirewall(c.prof)
	if err != nil {
		return nil, err
	}
	eg := c.egress()
	eg.mu.Lock()
	for _, g := range eg.gateways {
		eg.mu.Unlock()
		return nil, fmt.Errorf("gateway %s: the cell already has gateway %s at %s", name, g.Name(), g.Public)
	}
	eg.mu.Unlock()
	gw, err := gateway.New(ctx, c.env, name, netip.PrefixFrom(PublicNet.Addr().Next(), PublicNet.Bits()), internet, fw)
	if err != nil {
		return nil, err
	}
	eg.mu.Lock()
	eg.gateways[name] = gw
	eg.mu.Unlock()
	for _, n := range nodes {
		if err := gw.RouteThrough(ctx, n.Host); err != nil {
			return nil, err
		}
	}
	return gw, nil
}

// Gateway returns a provider gateway by name.
func (c *Cluster) Gateway(name string) (*gateway.Gateway, bool) {
	eg := c.egress()
	eg.mu.Lock()
	defer eg.mu.Unlock()
	g, ok := eg.gateways[name]
	return g, ok
}

// AddInternetHost boots a host on the gateway's internet network and runs
// an HTTP server on port in it, stopped by Cluster.Close.
func (c *Cluster) AddInternetHost(ctx context.Context, name, gw string, port int) (*InternetHost, error) {
	g, ok := c.Gateway(gw)
	if !ok {
		return nil, fmt.Errorf("internet host %s: no gateway %q in this cell", name, gw)
	}
	h, addr, err := g.AddHost(ctx, name)
	if err != nil {
		return nil, err
	}
	srv, err := gateway.Serve(h.NetNS(), port, name)
	if err != nil {
		return nil, err
	}
	c.OnClose(srv.Close)
	ih := &InternetHost{Name: name, Addr: addr, Port: port, Gateway: g, Server: srv, NetNS: h.NetNS()}
	eg := c.egress()
	eg.mu.Lock()
	eg.hosts[name] = ih
	eg.mu.Unlock()
	return ih, nil
}

// InternetHost returns an internet host by name.
func (c *Cluster) InternetHost(name string) (*InternetHost, bool) {
	eg := c.egress()
	eg.mu.Lock()
	defer eg.mu.Unlock()
	h, ok := eg.hosts[name]
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
	eg := n.cluster.egress()
	key := n.Name() + "/" + cidr.String()
	eg.mu.Lock()
	old := eg.masq[key]
	delete(eg.masq, key)
	eg.mu.Unlock()
	for _, r := range old {
		if _, err := n.Run(ctx, execx.Cmd{Argv: append([]string{"iptables", "-t", "nat", "-D", "POSTROUTING"}, r...)}); err != nil {
			return "", fmt.Errorf("replace pod egress masquerade on %s: %w", n.Name(), err)
		}
	}
	var written [][]string
	for _, r := range MasqueradeRules(cidr, opts) {
		if _, err := n.Run(ctx, execx.Cmd{Argv: append([]string{"iptables", "-t", "nat", "-A", "POSTROUTING"}, r...)}); err != nil {
			eg.mu.Lock()
			eg.masq[key] = written
			eg.mu.Unlock()
			return "", fmt.Errorf("pod egress masquerade on %s: %w", n.Name(), err)
		}
		written = append(written, r)
	}
	eg.mu.Lock()
	eg.masq[key] = written
	eg.mu.Unlock()
	out, err := execx.Output(ctx, n, iptables.Binary("iptables-save", n.cluster.prof.Iptables.Mode), "-t", "nat")
	if err != nil {
		return "", fmt.Errorf("pod egress masquerade on %s: %w", n.Name(), err)
	}
	return out, nil
}
