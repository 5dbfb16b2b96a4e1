package microk8s

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lab/harness/agent"
	"lab/harness/dns"
	"lab/harness/driver"
	"lab/harness/execx"
	"lab/harness/probe"
)

// Source returns a host to probe from: HTTP with curl, files with cat.
// Pods are no source here: the driver probes from hosts only.
func (c *Cluster) Source(name string) (driver.Source, error) {
	h, err := c.host(name)
	if err != nil {
		if _, isPod := c.Pod(name); isPod {
			return nil, fmt.Errorf("probing from pod %s: %w (probe from a host)", name, errUnsupported)
		}
		return nil, err
	}
	return hostSource{h}, nil
}

type hostSource struct{ h *host }

// HTTP sends one GET with curl on the host and classifies the outcome
// from curl's exit status and message.
func (s hostSource) HTTP(ctx context.Context, url string, timeout time.Duration) probe.Result {
	secs := strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64)
	start := time.Now()
	res, err := s.h.Run(ctx, execx.Cmd{Argv: []string{"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--connect-timeout", secs, "--max-time", secs, url},
		Env: []string{"PATH=" + hostPath}})
	r := probe.Result{Elapsed: time.Since(start)}
	var ee *execx.Error
	switch {
	case err == nil:
		r.Outcome = strings.TrimSpace(string(res.Stdout))
	case errors.As(err, &ee):
		r.Outcome, r.Detail = curlOutcome(ee.ExitCode, ee.Stderr), strings.TrimSpace(ee.Stderr)
	default:
		r.Outcome, r.Detail = "error", err.Error()
	}
	return r
}

// curlOutcome maps curl's exit status (man curl, EXIT CODES) and message
// to a probe outcome.
func curlOutcome(code int, stderr string) string {
	switch {
	case code == 28:
		return probe.Timeout
	case code == 7 && (strings.Contains(stderr, "No route to host") || strings.Contains(stderr, "unreachable")):
		return probe.Unreachable
	case code == 7:
		return probe.Refused
	case code == 56 || code == 52 || strings.Contains(stderr, "reset by peer"):
		return probe.Reset
	}
	return "curl exit " + strconv.Itoa(code)
}

// ReadFile reads a file on the host.
func (s hostSource) ReadFile(ctx context.Context, path string) (string, error) {
	return run(ctx, s.h, nil, "cat", path)
}

// UDP: UDP probes are not supported.
func (s hostSource) UDP(context.Context, string, int, bool, time.Duration) probe.Result {
	return probe.Result{Outcome: "error", Detail: "UDP probes: " + errUnsupported.Error()}
}

// UDPBatch: UDP batches are not supported.
func (s hostSource) UDPBatch(context.Context, string, int, int, time.Duration) (probe.Batch, error) {
	return probe.Batch{}, fmt.Errorf("UDP batches: %w", errUnsupported)
}

// Lookup: DNS lookups are not supported.
func (s hostSource) Lookup(context.Context, string, string, string, time.Duration) dns.Result {
	return dns.Result{Outcome: "error", Detail: "DNS lookups: " + errUnsupported.Error()}
}

// Dial: connect probes are not supported.
func (s hostSource) Dial(context.Context, string, time.Duration) error {
	return fmt.Errorf("connect probes: %w", errUnsupported)
}

// Batch: connection batches are not supported.
func (s hostSource) Batch(context.Context, string, int, int, time.Duration) (probe.Batch, error) {
	return probe.Batch{}, fmt.Errorf("connection batches: %w", errUnsupported)
}

// Conntrack lists the node's conntrack entries of TCP connections sent to
// dst (`conntrack -L`), with each one's DNAT target (the reply's source)
// and that target's neighbour state (`ip neigh show to`).
func (c *Cluster) Conntrack(ctx context.Context, nodeName string, dst netip.AddrPort) ([]agent.Flow, error) {
	h, err := c.node(nodeName)
	if err != nil {
		return nil, err
	}
	out, err := run(ctx, h, nil, "conntrack", "-L", "-p", "tcp", "--orig-dst", dst.Addr().String(), "--orig-port-dst", strconv.Itoa(int(dst.Port())))
	if err != nil {
		return nil, err
	}
	flows := parseConntrack(out)
	for i, f := range flows {
		flows[i].Neighbour = "none"
		if f.DNATTo == "" {
			continue
		}
		n, err := run(ctx, h, nil, "ip", "neigh", "show", "to", f.DNATTo)
		if err != nil {
			return nil, err
		}
		if fs := strings.Fields(n); len(fs) > 0 {
			flows[i].Neighbour = fs[len(fs)-1]
		}
	}
	return flows, nil
}

// parseConntrack reads `conntrack -L` lines: the protocol, its number, the
// timeout, the TCP state, then the original direction's src= dst= sport=
// dport= and the reply direction's.
func parseConntrack(out string) []agent.Flow {
	var flows []agent.Flow
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "tcp" {
			continue
		}
		var orig, reply []string
		for _, kv := range f[3:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || (k != "src" && k != "dst" && k != "sport" && k != "dport") {
				continue
			}
			if len(orig) < 4 {
				orig = append(orig, v)
			} else if len(reply) < 4 {
				reply = append(reply, v)
			}
		}
		if len(orig) < 4 {
			continue
		}
		fl := agent.Flow{Orig: orig[0] + ":" + orig[2] + " -> " + orig[1] + ":" + orig[3], TCPState: f[3]}
		if len(reply) == 4 && reply[0] != orig[1] {
			fl.DNATTo = reply[0]
		}
		flows = append(flows, fl)
	}
	return flows
}

// UDPFrom: UDP probes are not supported.
func (s hostSource) UDPFrom(context.Context, string, int, time.Duration) probe.Result {
	return probe.Result{Outcome: "error", Detail: "UDP probes: " + errUnsupported.Error()}
}

// BatchDecided: connection batches are not supported.
func (s hostSource) BatchDecided(context.Context, string, int, int, time.Duration, <-chan probe.Decision) (probe.Batch, error) {
	return probe.Batch{}, fmt.Errorf("connection batches: %w", errUnsupported)
}

// UDPBatchDecided: UDP batches are not supported.
func (s hostSource) UDPBatchDecided(context.Context, string, int, int, time.Duration, <-chan probe.Decision) (probe.Batch, error) {
	return probe.Batch{}, fmt.Errorf("UDP batches: %w", errUnsupported)
}
