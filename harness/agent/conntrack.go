package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ConntrackArgs asks for the node's conntrack entries of connections to
// Dst (the address and port a client sent to).
type ConntrackArgs struct {
	Dst netip.AddrPort `json:"dst"`
}

// Flow is one conntrack entry as the kernel keeps it: where the client
// sent the connection (Orig) and where the node really sent it (the reply
// direction's source: the DNAT target), with the packets each way, the
// TCP state and the neighbour state of the DNAT target on this node.
type Flow struct {
	Orig     string `json:"orig"`
	DNATTo   string `json:"dnat_to"`
	Replies  uint64 `json:"replies"`
	Sent     uint64 `json:"sent"`
	TCPState string `json:"tcp_state,omitempty"`
	// Neighbour is the DNAT target's neighbour state (INCOMPLETE: nothing
	// answers its ARP), "none" without an entry.
	Neighbour string `json:"neighbour"`
}

// tcpStates are the kernel's TCP conntrack states by number.
var tcpStates = []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// conntrack lists the flows to Dst with the neighbour state of each DNAT
// target (what the kernel did with a probe, read after it failed).
func (a *Agent) conntrack(ctx context.Context, c ConntrackArgs) ([]Flow, error) {
	fam := netlink.FAMILY_V4
	if c.Dst.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	flows, err := netlink.ConntrackTableList(netlink.ConntrackTable, netlink.InetFamily(fam))
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	neigh, _ := netlink.NeighList(0, fam)
	var out []Flow
	for _, f := range flows {
		dst, ok := netip.AddrFromSlice(f.Forward.DstIP)
		if !ok || dst.Unmap() != c.Dst.Addr() || f.Forward.DstPort != c.Dst.Port() {
			continue
		}
		to := net.JoinHostPort(f.Reverse.SrcIP.String(), fmt.Sprint(f.Reverse.SrcPort))
		fl := Flow{
			Orig:    fmt.Sprintf("%s:%d -> %s", f.Forward.SrcIP, f.Forward.SrcPort, c.Dst),
			DNATTo:  to,
			Replies: f.Reverse.Packets,
			Sent:    f.Forward.Packets,
		}
		if f.Forward.Protocol == unix.IPPROTO_TCP {
			if p, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP); ok && int(p.State) < len(tcpStates) {
				fl.TCPState = tcpStates[p.State]
			}
		}
		fl.Neighbour = "none"
		for _, n := range neigh {
			if n.IP.Equal(f.Reverse.SrcIP) {
				fl.Neighbour = neighState(n.State)
			}
		}
		out = append(out, fl)
	}
	return out, nil
}

// neighState names a neighbour entry's state as `ip neigh` prints it.
func neighState(s int) string {
	for _, x := range []struct {
		bit  int
		name string
	}{{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"}} {
		if s&x.bit != 0 {
			return x.name
		}
	}
	return "NONE"
}
