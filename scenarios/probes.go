package scenarios

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"lab/harness/driver"
	"lab/harness/probe"
)

// ProbeTimeout bounds one HTTP probe. Hosts are one bridge apart, so a
// healthy answer takes milliseconds; a second means the packets went nowhere.
const ProbeTimeout = time.Second

func init() {
	register(Def{Subject: "probes", Pattern: `^"([^"]+)" requests HTTP ports? "([^"]+)" of the public address of "([^"]+)" as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("ports", PortList), P("node", Name), P("observation", Name)},
		Doc:     "Sends one HTTP GET from the host to each port (comma list) of the node's public address, concurrently, with a 1 s timeout, and records NAME_PORT = the HTTP status, or timeout / refused / unreachable / reset. A probe the node DNATs to a dead address (conntrack's DNAT target, no reply, its neighbour entry still INCOMPLETE 150 ms in, or FAILED) is decided as a timeout on that positive signal without waiting the second out; the evidence says so. For a port that did not answer 200 it also records NAME_PORT_dnat_to: where the node's kernel really sent the connection (the DNAT target in its conntrack entry, e.g. a dead pod's address) and that address's neighbour state, or none when no entry exists.",
		Example: `When "client" requests HTTP ports "80,443" of the public address of "node1" as "public_http"`,
		bind:    func(w *World) any { return w.requestPublic }})
	register(Def{Subject: "probes", Pattern: `^"([^"]+)" requests HTTP ports? "([^"]+)" of localhost as "([^"]+)"$`,
		Params:  []Param{P("node", Name), P("ports", PortList), P("observation", Name)},
		Doc:     "Sends one HTTP GET from a node to each port (comma list) of 127.0.0.1 inside that node (what `curl http://localhost:PORT` on the node does: a hostPort reached through portmap's OUTPUT DNAT), concurrently, with a 1 s timeout, and records NAME_PORT and NAME_PORT_dnat_to as for the public address.",
		Example: `When "node1" requests HTTP ports "80,443" of localhost as "localhost_http"`,
		bind:    func(w *World) any { return w.requestLocalhost }})
}

func (w *World) requestLocalhost(ctx context.Context, node, ports, obs string) error {
	if !w.D.IsNode(node) {
		return fmt.Errorf("%q is not a MicroK8s node: localhost probes run on a node", node)
	}
	return w.requestAt(ctx, node, ports, node, netip.MustParseAddr("127.0.0.1"), obs)
}

func (w *World) requestPublic(ctx context.Context, from, ports, node, obs string) error {
	pub, err := w.D.PublicAddr(node)
	if err != nil {
		return err
	}
	return w.requestAt(ctx, from, ports, node, pub, obs)
}

// requestAt probes the ports of address pub (on node) from a source.
func (w *World) requestAt(ctx context.Context, from, ports, node string, pub netip.Addr, obs string) error {
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	list, err := ParsePortList(ports)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	res := make([]probe.Result, len(list))
	for i, p := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := "http://" + net.JoinHostPort(pub.String(), strconv.Itoa(p)) + "/"
			if !w.D.IsNode(node) {
				res[i] = src.HTTP(ctx, url, ProbeTimeout)
				return
			}
			res[i] = w.probeDecided(ctx, src, url, w.conntrackSignal(node, netip.AddrPortFrom(pub, uint16(p)), false))
		}()
	}
	wg.Wait()
	var ev strings.Builder
	for i, p := range list {
		name := fmt.Sprintf("%s_%d", obs, p)
		w.Observe(name, res[i].Outcome)
		fmt.Fprintf(&ev, "GET http://%s:%d/ from %s: %s after %s: %s\n", pub, p, from, res[i].Outcome, res[i].Elapsed.Round(time.Millisecond), strings.TrimSpace(res[i].Detail))
		if res[i].Outcome == "200" || !w.D.IsNode(node) {
			continue
		}
		flows, err := w.D.Conntrack(ctx, node, netip.AddrPortFrom(pub, uint16(p)))
		if err != nil {
			return err
		}
		to := "none"
		for _, f := range flows {
			to = f.DNATTo + " (neighbour " + f.Neighbour + ")"
			fmt.Fprintf(&ev, "  node %s conntrack: %s DNAT to %s, tcp %s, neighbour %s\n", node, f.Orig, f.DNATTo, f.TCPState, f.Neighbour)
		}
		w.Observe(name+"_dnat_to", to)
	}
	w.Evidence(obs+": probes", ev.String())
	return nil
}

// Dead DNAT targets: a probe to a node's public address whose connection
// the node DNATed to an address nothing answers ARP for is decided as a
// timeout without waiting the timeout out. The kernel answers ARP in
// softirq, so a live address resolves within milliseconds; an entry still
// INCOMPLETE deadTargetAfter after the probe began (or FAILED) has no
// owner, and the kernel only gives up on it after its three ARP probes a
// second apart, well past ProbeTimeout: the probe would time out.
const (
	deadTargetAfter = 150 * time.Millisecond
	deadTargetPoll  = 30 * time.Millisecond
)

// A signal looks for a positive sign, in a node's kernel, that a probe
// unanswered for `since` can no longer be answered; it returns what it saw
// ("" while there is nothing). Signals are polled every deadTargetPoll.
type signal func(ctx context.Context, since time.Duration) string

// probeDecided sends one GET from src while polling the signals (nil ones
// are skipped): the first that sees its sign ends the probe as a timeout
// whose detail names the sign; otherwise the probe's own outcome stands.
func (w *World) probeDecided(ctx context.Context, src driver.Source, url string, signals ...signal) probe.Result {
	start := time.Now()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan probe.Result, 1)
	go func() { done <- src.HTTP(pctx, url, ProbeTimeout) }()
	t := time.NewTicker(deadTargetPoll)
	defer t.Stop()
	for {
		select {
		case r := <-done:
			return r
		case <-t.C:
		}
		for _, sig := range signals {
			if sig == nil {
				continue
			}
			why := sig(pctx, time.Since(start))
			if why == "" {
				continue
			}
			cancel()
			if r := <-done; isStatus(r.Outcome) {
				return r // answered after all, while the sign was read
			}
			return probe.Result{Outcome: probe.Timeout, Elapsed: time.Since(start), Detail: fmt.Sprintf(
				"decided by a positive signal after %s instead of waiting out the %s timeout: %s",
				time.Since(start).Round(time.Millisecond), ProbeTimeout, why)}
		}
	}
}

// isStatus says whether a probe outcome is an HTTP status (an answer).
func isStatus(outcome string) bool {
	_, err := strconv.Atoi(outcome)
	return err == nil
}

// conntrackSignal reads the node's conntrack entries for dst: an entry
// with no reply whose DNAT target is dead (see deadTargetAfter), or, with
// virtual (dst is a Service's ClusterIP, an address no host owns), one the
// node did not translate at all. A connection's NAT is decided once, at
// its first packet, before conntrack lists the entry: an entry without
// DNAT stays so, and a ClusterIP nothing translated cannot answer.
func (w *World) conntrackSignal(node string, dst netip.AddrPort, virtual bool) signal {
	return func(ctx context.Context, since time.Duration) string {
		flows, err := w.D.Conntrack(ctx, node, dst)
		if err != nil {
			return ""
		}
		for _, f := range flows {
			untranslated := f.DNATTo == dst.String()
			dead := !untranslated && (f.Neighbour == "INCOMPLETE" && since >= deadTargetAfter || f.Neighbour == "FAILED")
			if f.Replies > 0 || !dead && !(virtual && untranslated) {
				continue
			}
			why := fmt.Sprintf("is DNATed to %s, tcp %s, no reply, and that address's neighbour entry is %s (nothing answers its ARP)", f.DNATTo, f.TCPState, f.Neighbour)
			if !dead {
				why = fmt.Sprintf("was not translated (no DNAT: no Service rule matched its first packet), tcp %s, no reply; a ClusterIP is owned by no host, so nothing can answer it", f.TCPState)
			}
			return fmt.Sprintf("node %s's conntrack entry %s %s", node, f.Orig, why)
		}
		return ""
	}
}
