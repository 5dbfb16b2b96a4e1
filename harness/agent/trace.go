package agent

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"lab/harness/execx"
	"lab/harness/probe"
)

// TraceTable is the nft table a trace adds to a node for its duration.
const TraceTable = "lab_trace"

// Trace is what nftables' tracing saw one TCP SYN go through on a node.
type Trace struct {
	// Verdict is the rule that dropped or rejected the SYN, as
	// "FAMILY TABLE CHAIN: RULE" (e.g. "inet firewalld filter_FORWARD:
	// reject with icmpx admin-prohibited"), or "" when no nftables rule
	// did (iptables-legacy rules are not traced).
	Verdict string
	// Connect is the outcome the sender saw (refused, unreachable, ...).
	Connect string
	// Lines is the trace of that SYN as `nft monitor trace` printed it.
	Lines []string
	// Ended says how the trace was known to be whole (EndedComplete,
	// EndedSentinel or EndedQuiet).
	Ended string `json:",omitempty"`
}

// traceLine matches "trace id 8f1a4c2e inet firewalld filter_FORWARD rule ...".
var traceLine = regexp.MustCompile(`^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (.*)$`)

// sentinelPort is the UDP port of the sentinel datagrams a trace sends
// after its SYN (the discard port): they are traced too, and nft monitor
// prints events in the order the kernel emitted them, so once a
// sentinel's trace is printed, every line of the SYN's trace before it is.
const sentinelPort = 9

// Ways a trace ended, for Trace.Ended.
const (
	EndedComplete = "complete: the trace reached a drop or the last hook of the packet's path"
	EndedSentinel = "positive signal: a sentinel datagram sent after the SYN was traced, so the SYN's trace before it is whole"
	EndedQuiet    = "quiet: the monitor printed nothing more for a while (no positive signal)"
)

// traceTCP connects from the pod namespace srcNS (whose address is src) to
// dst while tracing the SYN through the node's nftables ruleset: a
// temporary table marks matching SYNs with nftrace at the start of
// prerouting, and `nft monitor trace` records every rule they hit. The
// connect is retried until the monitor has printed a complete trace of one
// SYN (it needs a moment to subscribe). A trace is known to be whole when
// it reached a drop or the packet's last hook, or when a sentinel
// datagram sent after the SYN has been traced; waiting for the monitor to
// be quiet is only the fallback.
func traceTCP(ctx context.Context, srcNS string, src netip.Addr, dst netip.AddrPort) (Trace, error) {
	var tr Trace
	h := execx.Host{}
	rules := fmt.Sprintf("table inet %s {\n\tchain pre {\n\t\ttype filter hook prerouting priority raw - 10; policy accept;\n"+
		"\t\tip saddr %s ip daddr %s tcp dport %d tcp flags & (syn | ack) == syn meta nftrace set 1\n"+
		"\t\tip saddr %s ip daddr %s udp dport %d meta nftrace set 1\n\t}\n}\n",
		TraceTable, src, dst.Addr(), dst.Port(), src, dst.Addr(), sentinelPort)
	if _, err := h.Run(ctx, execx.Cmd{Argv: []string{"nft", "-f", "-"}, Stdin: []byte(rules)}); err != nil {
		return tr, fmt.Errorf("trace: %w", err)
	}
	defer func() {
		_, _ = h.Run(context.Background(), execx.Cmd{Argv: []string{"nft", "delete", "table", "inet", TraceTable}})
	}()
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return tr, fmt.Errorf("trace: %w", err)
	}
	logf, err := os.CreateTemp(Dir, "trace-*.log")
	if err != nil {
		return tr, fmt.Errorf("trace: %w", err)
	}
	logPath := logf.Name()
	logf.Close()
	defer os.Remove(logPath)
	mon, err := execx.Start(execx.Cmd{Argv: []string{lookNft(), "monitor", "trace"}, Env: os.Environ()}, logPath, nil)
	if err != nil {
		return tr, fmt.Errorf("trace: %w", err)
	}
	defer func() { _ = mon.Stop(context.Background(), time.Second) }()
	sentinel := netip.AddrPortFrom(dst.Addr(), sentinelPort).String()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		data, _ := os.ReadFile(logPath)
		sentinelsBefore := len(sentinelIDs(string(data)))
		c, err := probe.Dialer(srcNS, UpstreamTimeout)(ctx, "tcp", dst.String())
		tr.Connect = "connected"
		if err != nil {
			tr.Connect = probe.Classify(err)
		} else {
			c.Close()
		}
		// The monitor prints a trace line by line: wait until the SYN's
		// trace has ended (a verdict that ends the packet's path), or a
		// sentinel sent after the SYN was printed. The fallback is the
		// monitor being quiet: 150 ms while nothing came (then the SYN is
		// sent again), 1 s once a trace has begun (on a loaded machine
		// its lines may come in bursts).
		quiet := time.Now()
		last := -1
		var sent time.Time
		for ctx.Err() == nil {
			limit := 150 * time.Millisecond
			if len(tr.Lines) > 0 {
				limit = time.Second
			}
			if time.Since(quiet) >= limit {
				break
			}
			data, _ := os.ReadFile(logPath)
			tr.Lines = firstTrace(string(data))
			if complete(tr.Lines) {
				tr.Verdict, tr.Ended = verdict(tr.Lines), EndedComplete
				return tr, nil
			}
			if len(sentinelIDs(string(data))) > sentinelsBefore {
				if len(tr.Lines) == 0 {
					break // the SYN went by before the monitor listened
				}
				tr.Verdict, tr.Ended = verdict(tr.Lines), EndedSentinel
				return tr, nil
			}
			if len(tr.Lines) != last {
				last, quiet = len(tr.Lines), time.Now()
			}
			if time.Since(sent) >= 50*time.Millisecond {
				sent = time.Now()
				if sc, err := probe.Dialer(srcNS, UpstreamTimeout)(ctx, "udp", sentinel); err == nil {
					_, _ = sc.Write([]byte("lab trace sentinel"))
					sc.Close()
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if len(tr.Lines) > 0 {
			tr.Verdict, tr.Ended = verdict(tr.Lines), EndedQuiet
			return tr, nil
		}
	}
	if mon.Exited() {
		data, _ := os.ReadFile(logPath)
		return tr, fmt.Errorf("trace: nft monitor trace exited: %s", strings.TrimSpace(string(data)))
	}
	return tr, fmt.Errorf("trace: no SYN from %s to %s was traced", src, dst)
}

// complete reports whether a trace has reached the end of the packet's
// path through nftables: a drop, or an accept by a base chain's policy or
// rule in the last hook a forwarded or local packet crosses.
func complete(lines []string) bool {
	if verdict(lines) != "" {
		return true
	}
	for _, l := range lines {
		m := traceLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		rest := m[5]
		if strings.Contains(rest, "verdict accept") || strings.HasSuffix(rest, "policy accept") {
			c := strings.ToLower(m[4])
			if strings.Contains(c, "postrouting") || strings.Contains(c, "input") {
				return true
			}
		}
	}
	return false
}

// lookNft returns nft's absolute path (StartProcess does not search PATH).
func lookNft() string {
	for _, p := range []string{"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "nft"
}

// firstTrace returns the lines of the first trace id in the monitor's
// output that is not a sentinel's: the SYN's lines in the order printed.
func firstTrace(out string) []string {
	skip := sentinelIDs(out)
	var id string
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		m := traceLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil || skip[m[1]] {
			continue
		}
		if id == "" {
			id = m[1]
		}
		if m[1] == id {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// sentinelIDs returns the trace ids of sentinel datagrams in the
// monitor's output (their packet line names the sentinel's UDP port).
func sentinelIDs(out string) map[string]bool {
	ids := map[string]bool{}
	mark := fmt.Sprintf("udp dport %d ", sentinelPort)
	for _, l := range strings.Split(out, "\n") {
		m := traceLine.FindStringSubmatch(strings.TrimSpace(l))
		if m != nil && strings.HasPrefix(m[5], "packet:") && strings.Contains(m[5]+" ", mark) {
			ids[m[1]] = true
		}
	}
	return ids
}

// verdict returns "FAMILY TABLE CHAIN: RULE" of the first traced rule or
// policy that dropped the packet, or "".
func verdict(lines []string) string {
	for _, l := range lines {
		m := traceLine.FindStringSubmatch(l)
		rest := m[5]
		switch {
		case strings.HasPrefix(rest, "rule ") && strings.HasSuffix(rest, "(verdict drop)"): // reject traces as drop
			rule := strings.TrimSuffix(strings.TrimPrefix(rest, "rule "), " (verdict drop)")
			return fmt.Sprintf("%s %s %s: %s", m[2], m[3], m[4], rule)
		case rest == "policy drop" || rest == "verdict drop":
			return fmt.Sprintf("%s %s %s: %s", m[2], m[3], m[4], rest)
		}
	}
	return ""
}
