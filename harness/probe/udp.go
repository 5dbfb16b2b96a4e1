package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"lab/harness/netns"

	"golang.org/x/sys/unix"
)

// Outcomes of UDP probes besides Timeout, Refused and Unreachable.
const (
	// Answered: the datagram got an answer.
	Answered = "ok"
	// TooBig: the datagram did not fit the path MTU with DF set (the
	// sender's own MTU, or an ICMP "fragmentation needed" from a hop).
	TooBig = "too big"
)

// UDP sends one datagram of size bytes from the namespace at path to addr
// (host:port) on a fresh socket and waits for one answer. With noFrag the
// datagram carries DF (IPv4) or is never fragmented (IPv6): a payload
// larger than the path MTU comes back as TooBig, with the MTU the kernel
// learnt in Detail.
func UDP(ctx context.Context, path, addr string, size int, noFrag bool, timeout time.Duration) Result {
	d := net.Dialer{}
	if noFrag {
		d.Control = dontFragment
	}
	return udpVia(ctx, path, addr, d, size, timeout)
}

// UDPFrom sends one datagram of size bytes from source port srcPort (a
// socket bound to it, reused across calls as a client reusing its port
// would) to addr and waits for one answer: successive datagrams belong to
// one conntrack flow.
func UDPFrom(ctx context.Context, path, addr string, srcPort, size int, timeout time.Duration) Result {
	return udpVia(ctx, path, addr, net.Dialer{LocalAddr: &net.UDPAddr{Port: srcPort}}, size, timeout)
}

func udpVia(parent context.Context, path, addr string, d net.Dialer, size int, timeout time.Duration) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	var c net.Conn
	err := netns.Do(path, func() error {
		var derr error
		c, derr = d.DialContext(ctx, "udp", addr)
		return derr
	})
	if err != nil {
		return Result{Outcome: classifyUDP(err), Detail: err.Error(), Elapsed: time.Since(start)}
	}
	defer c.Close()
	// the caller's cancellation (a batch's decision) ends the wait at once
	// (as "error"); the timeout below stays the read deadline's
	stop := context.AfterFunc(parent, func() { _ = c.Close() })
	defer stop()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	payload := []byte(strings.Repeat("x", max(size, 1)))
	if _, err := c.Write(payload); err != nil {
		return udpFailure(c, err, start)
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return udpFailure(c, err, start)
	}
	return Result{Outcome: Answered, Detail: strings.TrimSpace(string(buf[:n])), Elapsed: time.Since(start)}
}

func udpFailure(c net.Conn, err error, start time.Time) Result {
	r := Result{Outcome: classifyUDP(err), Detail: err.Error(), Elapsed: time.Since(start)}
	if r.Outcome == TooBig {
		if mtu, ok := pathMTU(c); ok {
			r.Detail = fmt.Sprintf("path MTU %d: %s", mtu, err)
		}
	}
	return r
}

func classifyUDP(err error) string {
	if errors.Is(err, syscall.EMSGSIZE) {
		return TooBig
	}
	return Classify(err)
}

// dontFragment sets DF on an IPv4 socket, or forbids fragmentation on an
// IPv6 one.
func dontFragment(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if strings.HasSuffix(network, "6") {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1)
			}
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	})
	if err != nil {
		return err
	}
	return serr
}

// pathMTU reads the path MTU a connected socket knows.
func pathMTU(c net.Conn) (int, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	mtu, gerr := 0, error(nil)
	v6 := strings.Contains(c.RemoteAddr().String(), "[")
	_ = rc.Control(func(fd uintptr) {
		if v6 {
			mtu, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU)
		} else {
			mtu, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU)
		}
	})
	return mtu, gerr == nil && mtu > 0
}

// UDPBatch sends n datagrams from the namespace at path to addr, each on a
// fresh socket (a fresh source port), concurrency at a time, each waiting
// up to timeout for its answer. A datagram without an answer is a failure.
func UDPBatch(ctx context.Context, path, addr string, n, concurrency int, timeout time.Duration) Batch {
	return UDPBatchDecided(ctx, path, addr, n, concurrency, timeout, nil)
}

// UDPBatchDecided is UDPBatch that also ends on the decisions it receives
// (see Decision): the datagrams still waiting end with outcome Decided.
func UDPBatchDecided(ctx context.Context, path, addr string, n, concurrency int, timeout time.Duration, decisions <-chan Decision) Batch {
	return runBatch(ctx, n, concurrency, decisions, Answered, func(c context.Context) Result { return UDP(c, path, addr, 32, false, timeout) })
}
