package dns

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Serve answers queries on pc from records (canonical name -> addresses)
// until pc is closed: NXDOMAIN for an unknown name, an empty answer for a
// known name without an address of the asked type.
func Serve(pc net.PacketConn, records map[string][]netip.Addr) {
	buf := make([]byte, 1500)
	for {
		n, peer, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q, err := Parse(buf[:n])
		if err != nil || q.Response {
			continue
		}
		addrs, ok := records[q.Name]
		rcode := RcodeOK
		if !ok {
			rcode = RcodeNXDomain
		}
		if out, err := Answer(q, rcode, addrs); err == nil {
			_, _ = pc.WriteTo(out, peer)
		}
	}
}

// Forward relays every query on pc to upstream (host:port) from a fresh
// socket and relays the answer back, as a node-local stub resolver does;
// an upstream that does not answer within timeout gets the client a
// SERVFAIL.
func Forward(pc net.PacketConn, upstream string, timeout time.Duration) {
	buf := make([]byte, 1500)
	for {
		n, peer, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		msg := append([]byte(nil), buf[:n]...)
		go func() {
			resp, err := exchange(context.Background(), msg, upstream, timeout)
			if err != nil {
				q, perr := Parse(msg)
				if perr != nil {
					return
				}
				if resp, err = Answer(q, RcodeServFail, nil); err != nil {
					return
				}
			}
			_, _ = pc.WriteTo(resp, peer)
		}()
	}
}

// exchange sends one message to server and returns the answer with the
// same ID.
func exchange(ctx context.Context, msg []byte, server string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		if n >= 2 && binary.BigEndian.Uint16(buf) == binary.BigEndian.Uint16(msg) {
			return buf[:n], nil
		}
	}
}

// Outcomes of a lookup besides "ok".
const (
	NXDomain = "NXDOMAIN"
	ServFail = "SERVFAIL"
	Timeout  = "timeout"
	Refused  = "refused"
)

// Result is a lookup's outcome: "ok" with the addresses (sorted), or
// NXDOMAIN, SERVFAIL, timeout, refused, or "error" with Detail.
type Result struct {
	Outcome string       `json:"outcome"`
	Addrs   []netip.Addr `json:"addrs,omitempty"`
	Detail  string       `json:"detail,omitempty"`
}

// Lookup asks server (host:port) for name's addresses of qtype, dialling
// with dial (a namespace's dialer, or nil for the caller's).
func Lookup(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), server, name string, qtype uint16, timeout time.Duration) Result {
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	msg, err := Query(binary.BigEndian.Uint16(idb[:]), name, qtype)
	if err != nil {
		return Result{Outcome: "error", Detail: err.Error()}
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial(ctx, "udp", server)
	if err != nil {
		return Result{Outcome: classify(err), Detail: err.Error()}
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if _, err := c.Write(msg); err != nil {
		return Result{Outcome: classify(err), Detail: err.Error()}
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return Result{Outcome: classify(err), Detail: err.Error()}
	}
	p, err := Parse(buf[:n])
	if err != nil {
		return Result{Outcome: "error", Detail: err.Error()}
	}
	switch p.Rcode {
	case RcodeOK:
	case RcodeNXDomain:
		return Result{Outcome: NXDomain}
	case RcodeServFail:
		return Result{Outcome: ServFail}
	default:
		return Result{Outcome: "error", Detail: fmt.Sprintf("rcode %d", p.Rcode)}
	}
	sort.Slice(p.Addrs, func(i, j int) bool { return p.Addrs[i].Less(p.Addrs[j]) })
	return Result{Outcome: "ok", Addrs: p.Addrs}
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Timeout
	}
	return "error"
}

// String renders a result for an observation: the addresses as a comma
// list, or the outcome.
func (r Result) String() string {
	if r.Outcome != "ok" {
		return r.Outcome
	}
	if len(r.Addrs) == 0 {
		return "no address"
	}
	s := make([]string, len(r.Addrs))
	for i, a := range r.Addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}
