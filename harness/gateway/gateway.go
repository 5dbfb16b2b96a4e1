package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"lab/harness/execx"
	"lab/harness/node"
)

// InternetNetwork is the provider network name of the internet side.
const InternetNetwork = "internet"

// Gateway is the provider's router: one host on the nodes' public network
// and on the internet network, forwarding between them through the
// provider firewall.
type Gateway struct {
	node.Node
	// Public is the gateway's address on the nodes' network (the nodes'
	// default gateway).
	Public netip.Addr
	// Internet is the internet network; its first address is the gateway's.
	Internet netip.Prefix
	// Firewall is what the gateway filters.
	Firewall Firewall

	mu   sync.Mutex
	next int // host part of the next internet host's address
}

// Connector wires a node onto a cell network (provider.Env does).
type Connector interface {
	Connect(ctx context.Context, n node.Node, network, ifname string, addr netip.Prefix) error
}

// New makes the booted node h the gateway: on the "public" network of env
// at public (address and prefix length) and on the internet network at the
// internet prefix's first address, with IPv4 forwarding on and the
// firewall's rule set loaded with nft.
func New(ctx context.Context, env Connector, h node.Node, public, internet netip.Prefix, fw Firewall) (*Gateway, error) {
	if !internet.Addr().Is4() || internet.Bits() > 29 {
		return nil, fmt.Errorf("gateway %s: internet network %s: want an IPv4 prefix of at most /29", h.Name(), internet)
	}
	internet = internet.Masked()
	g := &Gateway{Node: h, Public: public.Addr(), Internet: internet, Firewall: fw, next: 10}
	if err := env.Connect(ctx, h, "public", NodeSide, public); err != nil {
		return nil, fmt.Errorf("gateway %s: %w", h.Name(), err)
	}
	if err := env.Connect(ctx, h, InternetNetwork, InternetSide, netip.PrefixFrom(internet.Addr().Next(), internet.Bits())); err != nil {
		return nil, fmt.Errorf("gateway %s: %w", h.Name(), err)
	}
	if _, err := h.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"}}); err != nil {
		return nil, fmt.Errorf("gateway %s: enable forwarding: %w", h.Name(), err)
	}
	if _, err := h.Run(ctx, execx.Cmd{Argv: []string{"nft", "-f", "-"}, Stdin: []byte(Ruleset(fw))}); err != nil {
		return nil, fmt.Errorf("gateway %s: load provider firewall: %w", h.Name(), err)
	}
	return g, nil
}

// Addr returns the gateway's address on the internet network.
func (g *Gateway) Addr() netip.Addr { return g.Internet.Addr().Next() }

// NextAddr returns the next free address of the internet network (from
// .10), for a host the caller boots there.
func (g *Gateway) NextAddr(name string) (netip.Prefix, error) {
	g.mu.Lock()
	a := g.Internet.Addr()
	for i := 0; i < g.next; i++ {
		a = a.Next()
	}
	g.next++
	g.mu.Unlock()
	if !g.Internet.Contains(a) || !g.Internet.Contains(a.Next()) {
		return netip.Prefix{}, fmt.Errorf("internet host %s: network %s is full", name, g.Internet)
	}
	return netip.PrefixFrom(a, g.Internet.Bits()), nil
}

// Flow is one element of the gateway's sets: an address and a TCP port,
// with the packets counted for it (dropped flows only).
type Flow struct {
	Addr    netip.Addr
	Port    int
	Packets uint64
}

// Snapshot is what the gateway's nft table holds at one moment.
type Snapshot struct {
	// Accepted and Dropped are the packet counters of inbound TCP with ACK.
	Accepted, Dropped uint64
	// SynSources are the (address, source port) pairs of SYNs seen leaving
	// the node side since the last Reset, sorted by port.
	SynSources []Flow
	// DroppedFlows are the (address, destination port) pairs of dropped
	// inbound packets since the last Reset, with their packet counts.
	DroppedFlows []Flow
	// DroppedUDPFlows are the same for inbound UDP.
	DroppedUDPFlows []Flow
}

// Reset empties the gateway's flow sets (the counters keep running; take
// differences of snapshots).
func (g *Gateway) Reset(ctx context.Context) error {
	for _, set := range []string{SetSynSources, SetDroppedFlows, SetDroppedUDPFlows} {
		if _, err := g.Run(ctx, execx.Cmd{Argv: []string{"nft", "flush", "set", "inet", Table, set}}); err != nil {
			return fmt.Errorf("gateway %s: reset: %w", g.Name(), err)
		}
	}
	return nil
}

// Snapshot reads the counters and sets with `nft -j`.
func (g *Gateway) Snapshot(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	out, err := execx.Output(ctx, g, "nft", "-j", "list", "table", "inet", Table)
	if err != nil {
		return s, fmt.Errorf("gateway %s: %w", g.Name(), err)
	}
	if err := parseTable([]byte(out), &s); err != nil {
		return s, fmt.Errorf("gateway %s: parse nft -j output: %w", g.Name(), err)
	}
	return s, nil
}

// Rules returns the gateway's chain and counters as nft prints them, for
// evidence (the sets are left out: they may hold thousands of flows).
func (g *Gateway) Rules(ctx context.Context) (string, error) {
	chain, err := execx.Output(ctx, g, "nft", "list", "chain", "inet", Table, "forward")
	if err != nil {
		return "", fmt.Errorf("gateway %s: %w", g.Name(), err)
	}
	counters, err := execx.Output(ctx, g, "nft", "list", "counters", "table", "inet", Table)
	if err != nil {
		return "", fmt.Errorf("gateway %s: %w", g.Name(), err)
	}
	return chain + counters, nil
}

// nftJSON is the subset of `nft -j list table` output the gateway reads.
type nftJSON struct {
	Nftables []struct {
		Counter *struct {
			Name    string `json:"name"`
			Packets uint64 `json:"packets"`
		} `json:"counter"`
		Set *struct {
			Name string            `json:"name"`
			Elem []json.RawMessage `json:"elem"`
		} `json:"set"`
	} `json:"nftables"`
}

// parseTable fills s from `nft -j list table` output.
func parseTable(data []byte, s *Snapshot) error {
	var doc nftJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	for _, o := range doc.Nftables {
		switch {
		case o.Counter != nil && o.Counter.Name == CounterAccepted:
			s.Accepted = o.Counter.Packets
		case o.Counter != nil && o.Counter.Name == CounterDropped:
			s.Dropped = o.Counter.Packets
		case o.Set != nil && (o.Set.Name == SetSynSources || o.Set.Name == SetDroppedFlows || o.Set.Name == SetDroppedUDPFlows):
			var flows []Flow
			for _, raw := range o.Set.Elem {
				f, err := parseElem(raw)
				if err != nil {
					return fmt.Errorf("set %s: %w", o.Set.Name, err)
				}
				flows = append(flows, f)
			}
			sort.Slice(flows, func(i, j int) bool { return flows[i].Port < flows[j].Port })
			switch o.Set.Name {
			case SetSynSources:
				s.SynSources = flows
			case SetDroppedFlows:
				s.DroppedFlows = flows
			default:
				s.DroppedUDPFlows = flows
			}
		}
	}
	return nil
}

// parseElem reads one set element: {"concat": [addr, port]} or, with a
// counter, {"elem": {"val": {"concat": [...]}, "counter": {...}}}.
func parseElem(raw json.RawMessage) (Flow, error) {
	var e struct {
		Concat []json.RawMessage `json:"concat"`
		Elem   *struct {
			Val struct {
				Concat []json.RawMessage `json:"concat"`
			} `json:"val"`
			Counter *struct {
				Packets uint64 `json:"packets"`
			} `json:"counter"`
		} `json:"elem"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return Flow{}, err
	}
	var f Flow
	concat := e.Concat
	if e.Elem != nil {
		concat = e.Elem.Val.Concat
		if e.Elem.Counter != nil {
			f.Packets = e.Elem.Counter.Packets
		}
	}
	if len(concat) != 2 {
		return Flow{}, fmt.Errorf("element %s: want address . port", raw)
	}
	var addr string
	if err := json.Unmarshal(concat[0], &addr); err != nil {
		return Flow{}, fmt.Errorf("element %s: %w", raw, err)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return Flow{}, fmt.Errorf("element %s: %w", raw, err)
	}
	if err := json.Unmarshal(concat[1], &f.Port); err != nil {
		return Flow{}, fmt.Errorf("element %s: %w", raw, err)
	}
	f.Addr = a
	return f, nil
}
