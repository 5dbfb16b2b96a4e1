package scenarios

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"lab/harness/probe"
)

// UDPTimeout bounds the wait for a datagram's answer.
const UDPTimeout = time.Second

func init() {
	register(Def{Subject: "probes", Pattern: `^"([^"]+)" sends a UDP datagram to pod "([^"]+)" over (ipv4|ipv6) as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("pod", Name), P("family", Family), P("observation", Name)},
		Doc:     "Sends one UDP datagram from a pod (or a node or client) to another pod's address of the family, on the port it serves (every pod serving HTTP also answers UDP on that port), and waits 1 s for the answer. Records NAME = ok, timeout, refused (ICMP port unreachable) or unreachable.",
		Example: `When "client" sends a UDP datagram to pod "web" over ipv4 as "udp_to_pod"`,
		cell:    podToPod,
		bind:    func(w *World) any { return w.udpToPod }})
	register(Def{Subject: "probes", Pattern: `^"([^"]+)" sends a UDP datagram to port ([^ "]+) of the public address of "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("port", Port), P("node", Name), P("observation", Name)},
		Doc:     "Sends one UDP datagram from a host (or pod) to the port of a node's public address (e.g. a UDP hostPort, `hostPorts \"5353/udp\"`) and waits 1 s for the answer. Records NAME as for datagrams to pods.",
		Example: `When "client" sends a UDP datagram to port 5353 of the public address of "node1" as "udp_hostport"`,
		bind:    func(w *World) any { return w.udpToPublic }})
	register(Def{Subject: "probes", Pattern: `^"([^"]+)" sends ([^ "]+) UDP datagrams to pod "([^"]+)" over (ipv4|ipv6) as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("count", Count), P("pod", Name), P("family", Family), P("observation", Name)},
		Doc:     "Sends N UDP datagrams from a pod (or a host) to a pod's port, each from a fresh socket (a fresh source port), 256 at a time, each waiting 1 s for its answer. Records NAME_datagrams, NAME_failures (no answer) and NAME_failure_rate (percent); outcomes are evidence.",
		Example: `When "app" sends 200 UDP datagrams to pod "web" over ipv4 as "udp_batch"`,
		cell:    podToPod2,
		bind:    func(w *World) any { return w.udpBatch }})
	register(Def{Subject: "probes", Pattern: `^"([^"]+)" sends a ([^ "]+)-byte UDP payload without fragmenting to pod "([^"]+)" over (ipv4|ipv6) as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("size", Size), P("pod", Name), P("family", Family), P("observation", Name)},
		Doc:     "A payload-size (MTU) probe: sends one UDP datagram with a payload of N bytes and DF set (IPv6: never fragmented) from a pod (or a host) to a pod's port and waits 1 s for the answer. Records NAME = ok, too big (it does not fit the sender's MTU or a hop answered \"fragmentation needed\"; NAME_path_mtu is the path MTU the sender's kernel learnt), or timeout (dropped on the way: an MTU black hole).",
		Example: `When "client" sends a 1472-byte UDP payload without fragmenting to pod "web" over ipv4 as "mtu_1500"`,
		cell:    podToPod,
		bind:    func(w *World) any { return w.udpPayload }})
	register(Def{Subject: "probes", Pattern: `^"([^"]+)" sends a ([^ "]+)-byte UDP payload without fragmenting to port ([^ "]+) of the public address of "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("size", Size), P("port", Port), P("node", Name), P("observation", Name)},
		Doc:     "The payload-size probe towards a port of a node's public address (e.g. a UDP hostPort): records NAME = ok, too big (with NAME_path_mtu) or timeout, as towards a pod. A datagram larger than the node's uplink MTU (the profile's uplink_mtu) is dropped on the way in: timeout.",
		Example: `When "client" sends a 1472-byte UDP payload without fragmenting to port 5353 of the public address of "node1" as "uplink_1500"`,
		bind:    func(w *World) any { return w.udpPayloadPublic }})
	register(Def{Subject: "probes", Pattern: `^"([^"]+)" sends a UDP datagram (?:from port ([^ "]+) )?to Service "([^"]+)" over (ipv4|ipv6) as "([^"]+)"$`,
		Params:  []Param{P("from", Name), Opt("source port", Port), P("service", Name), P("family", Family), P("observation", Name)},
		Doc:     "Sends one UDP datagram from a pod (or a node or client) to a UDP Service's ClusterIP of the family and port (declared `with protocol UDP`; kube-proxy must run) and waits 1 s for the answer of the endpoint kube-proxy's rules chose. Records NAME = ok, timeout, refused or unreachable, and NAME_from = the pod that answered. With `from port N` every such datagram leaves from source port N: one conntrack flow, which keeps its endpoint until the entry expires or kube-proxy deletes it.",
		Example: `When "app" sends a UDP datagram from port 40000 to Service "echo" over ipv4 as "udp_service"`,
		cell:    toService(0, 2),
		bind:    func(w *World) any { return w.udpToService }})
}

func (w *World) udpToService(ctx context.Context, from, srcPort, svc, fam, obs string) error {
	s, ip, err := w.serviceIP(svc, fam)
	if err != nil {
		return err
	}
	if !s.udp {
		return fmt.Errorf("service %q is TCP; declare it `with protocol UDP` to send it datagrams", svc)
	}
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(s.port))
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	var res probe.Result
	if srcPort != "" {
		p, err := ParsePort(srcPort)
		if err != nil {
			return err
		}
		res = src.UDPFrom(ctx, addr, p, UDPTimeout)
	} else {
		res = src.UDP(ctx, addr, 32, false, UDPTimeout)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if res.Outcome == "error" {
		return fmt.Errorf("UDP from %s to %s: %s", from, addr, res.Detail)
	}
	w.Observe(obs, res.Outcome)
	// the pod's echo names it: "pod POD (IP) port N/udp: 32 bytes from PEER"
	if who, _, ok := strings.Cut(res.Detail, " port "); ok && res.Outcome == probe.Answered {
		pod, _, _ := strings.Cut(strings.TrimPrefix(who, "pod "), " (")
		w.Observe(obs+"_from", pod)
	}
	w.Evidence(obs+": UDP probe", fmt.Sprintf("32-byte datagram %s (source port %s) -> %s (Service %s): %s after %s: %s\n", from, orAny(srcPort), addr, svc, res.Outcome, res.Elapsed.Round(time.Millisecond), res.Detail))
	return nil
}

// podToPod2 is the topology rule of steps sending from args[0] to pod args[2].
func podToPod2(s *cellState, args []string) string {
	return s.crossNode(args[0], args[2], familyOf(args))
}

// podPort resolves a pod's address of the family and the port it serves.
func (w *World) podPort(pod, fam string) (string, error) {
	f, err := ParseFamily(fam)
	if err != nil {
		return "", err
	}
	p, ok := w.D.Pod(pod)
	if !ok {
		return "", fmt.Errorf("no pod %q in this scenario", pod)
	}
	if p.Port == 0 {
		return "", fmt.Errorf("pod %q serves nothing; create it with `serving HTTP on port N`", pod)
	}
	a, ok := p.Addr(f)
	if !ok {
		return "", fmt.Errorf("pod %q has no %s address", pod, fam)
	}
	return net.JoinHostPort(a.String(), strconv.Itoa(p.Port)), nil
}

// sendUDP sends one datagram and records its outcome.
func (w *World) sendUDP(ctx context.Context, from, addr, what string, size int, noFrag bool, obs string) error {
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	res := src.UDP(ctx, addr, size, noFrag, UDPTimeout)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if res.Outcome == "error" {
		return fmt.Errorf("UDP from %s to %s: %s", from, addr, res.Detail)
	}
	w.Observe(obs, res.Outcome)
	if res.Outcome == probe.TooBig {
		var mtu int
		if _, err := fmt.Sscanf(res.Detail, "path MTU %d", &mtu); err == nil {
			w.Observe(obs+"_path_mtu", mtu)
		}
	}
	df := ""
	if noFrag {
		df = ", DF"
	}
	w.Evidence(obs+": UDP probe", fmt.Sprintf("%d-byte datagram%s %s -> %s (%s): %s after %s: %s\n", size, df, from, addr, what, res.Outcome, res.Elapsed.Round(time.Millisecond), res.Detail))
	return nil
}

func (w *World) udpToPod(ctx context.Context, from, pod, fam, obs string) error {
	addr, err := w.podPort(pod, fam)
	if err != nil {
		return err
	}
	return w.sendUDP(ctx, from, addr, "pod "+pod, 32, false, obs)
}

func (w *World) udpToPublic(ctx context.Context, from, port, node, obs string) error {
	p, err := ParsePort(port)
	if err != nil {
		return err
	}
	pub, err := w.D.PublicAddr(node)
	if err != nil {
		return err
	}
	return w.sendUDP(ctx, from, net.JoinHostPort(pub.String(), strconv.Itoa(p)), "public address of "+node, 32, false, obs)
}

func (w *World) udpPayload(ctx context.Context, from, size, pod, fam, obs string) error {
	n, err := ParseSize(size)
	if err != nil {
		return err
	}
	addr, err := w.podPort(pod, fam)
	if err != nil {
		return err
	}
	return w.sendUDP(ctx, from, addr, "pod "+pod, n, true, obs)
}

func (w *World) udpBatch(ctx context.Context, from, count, pod, fam, obs string) error {
	n, err := ParseCount(count)
	if err != nil {
		return err
	}
	addr, err := w.podPort(pod, fam)
	if err != nil {
		return err
	}
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	b, err := src.UDPBatch(ctx, addr, n, EgressConcurrency, UDPTimeout)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	w.Observe(obs+"_datagrams", b.N)
	w.Observe(obs+"_failures", b.Failures)
	w.Observe(obs+"_failure_rate", round1(b.FailureRate()))
	var ev strings.Builder
	fmt.Fprintf(&ev, "%d datagrams %s -> %s (pod %s) in %s, %d without an answer\n", b.N, from, addr, pod, b.Elapsed.Round(time.Millisecond), b.Failures)
	for _, k := range b.Kinds() {
		fmt.Fprintf(&ev, "  %-12s %d  %s\n", k, b.Outcomes[k], strings.TrimSpace(b.Details[k]))
	}
	w.Evidence(obs+": UDP batch", ev.String())
	return nil
}

func (w *World) udpPayloadPublic(ctx context.Context, from, size, port, node, obs string) error {
	n, err := ParseSize(size)
	if err != nil {
		return err
	}
	p, err := ParsePort(port)
	if err != nil {
		return err
	}
	pub, err := w.D.PublicAddr(node)
	if err != nil {
		return err
	}
	return w.sendUDP(ctx, from, net.JoinHostPort(pub.String(), strconv.Itoa(p)), "public address of "+node, n, true, obs)
}

// orAny renders an optional source port.
func orAny(port string) string {
	if port == "" {
		return "any"
	}
	return port
}
