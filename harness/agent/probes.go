package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"lab/harness/netns"
	"lab/harness/probe"

	"golang.org/x/sys/unix"
)

func (a *Agent) http(ctx context.Context, h HTTPArgs) (probe.Result, error) {
	path, err := a.podNS(h.From)
	if err != nil {
		return probe.Result{}, err
	}
	return probe.HTTP(ctx, path, h.URL, h.Timeout), nil
}

func (a *Agent) dial(ctx context.Context, d DialArgs) (DialResult, error) {
	path, err := a.podNS(d.From)
	if err != nil {
		return DialResult{}, err
	}
	c, err := probe.Dialer(path, d.Timeout)(ctx, "tcp", d.Addr)
	if err != nil {
		return DialResult{Outcome: probe.Classify(err), Detail: err.Error()}, nil
	}
	_ = c.Close()
	return DialResult{Outcome: "connected"}, nil
}

func (a *Agent) batch(ctx context.Context, b BatchArgs) (probe.Batch, error) {
	path, err := a.podNS(b.From)
	if err != nil {
		return probe.Batch{}, err
	}
	ch, release, err := a.decisionsFor(b.Key)
	if err != nil {
		return probe.Batch{}, err
	}
	defer release()
	return probe.HTTPBatchDecided(ctx, path, b.URL, b.N, b.Concurrency, b.Timeout, ch), nil
}

// decisionsFor registers the decision channel of a batch by its key (nil,
// never deciding, without one); release unregisters it.
func (a *Agent) decisionsFor(key string) (<-chan probe.Decision, func(), error) {
	if key == "" {
		return nil, func() {}, nil
	}
	ch := make(chan probe.Decision, 16)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.decisions == nil {
		a.decisions = map[string]chan probe.Decision{}
	}
	if _, dup := a.decisions[key]; dup {
		return nil, nil, fmt.Errorf("batch: key %q already running", key)
	}
	a.decisions[key] = ch
	return ch, func() {
		a.mu.Lock()
		delete(a.decisions, key)
		a.mu.Unlock()
	}, nil
}

// decide hands a running batch a decision; a batch that already ended
// (or never started) ignores it.
func (a *Agent) decide(ctx context.Context, d DecideArgs) (Empty, error) {
	a.mu.Lock()
	ch := a.decisions[d.Key]
	a.mu.Unlock()
	if ch != nil {
		select {
		case ch <- d.Decision:
		default: // a full queue: the batch has older decisions to read
		}
	}
	return Empty{}, nil
}

// peerHeaderTimeout bounds how long the peer-recording server waits for a
// request's header after accepting its connection.
const peerHeaderTimeout = 30 * time.Second

// peerServer is an HTTP server in the node's own namespace that records
// the peer address of every connection it accepts: after a node's SNAT,
// the port is the one a provider firewall judged on the way back.
type peerServer struct {
	srv *http.Server
	ln  net.Listener
	udp net.PacketConn

	mu    sync.Mutex
	peers []netip.AddrPort
}

func (a *Agent) peerServe(ctx context.Context, p PeerServeArgs) (Empty, error) {
	ln, err := netns.Listen("", "tcp4", fmt.Sprintf(":%d", p.Port))
	if err != nil {
		return Empty{}, fmt.Errorf("%s: listen on %d: %w", p.Ident, p.Port, err)
	}
	pc, err := netns.ListenPacket("", "udp4", fmt.Sprintf(":%d", p.Port))
	if err != nil {
		_ = ln.Close()
		return Empty{}, fmt.Errorf("%s: listen on udp %d: %w", p.Ident, p.Port, err)
	}
	// A batch of datagrams arrives at once; the default receive buffer
	// (rmem_default) holds a few hundred and a starved reader would lose the
	// rest here, not at the firewall the batch measures.
	if err := forceReadBuffer(pc, peerUDPBuffer); err != nil {
		_ = ln.Close()
		_ = pc.Close()
		return Empty{}, fmt.Errorf("%s: udp %d: %w", p.Ident, p.Port, err)
	}
	go echoUDP(pc, fmt.Sprintf("%s port %d/udp", p.Ident, p.Port))
	s := &peerServer{ln: ln, udp: pc}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s port %d: hello %s\n", p.Ident, p.Port, r.RemoteAddr)
	})
	// The server never gives up on a request before the client does (an
	// egress batch waits up to 10 s): on a loaded machine a client may send
	// its request seconds after the handshake, and a server-side timeout
	// would turn that slow success into a reset.
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: peerHeaderTimeout,
		ConnState: func(c net.Conn, st http.ConnState) {
			if st != http.StateNew {
				return
			}
			if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
				s.mu.Lock()
				s.peers = append(s.peers, ap)
				s.mu.Unlock()
			}
		}}
	go func() { _ = s.srv.Serve(ln) }()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.peers != nil {
		a.peers.Close()
	}
	a.peers = s
	return Empty{}, nil
}

func (a *Agent) peersOp(ctx context.Context, p PeersArgs) ([]netip.AddrPort, error) {
	a.mu.Lock()
	s := a.peers
	a.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("no peer-recording server on this node")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]netip.AddrPort(nil), s.peers...)
	if p.Reset {
		s.peers = nil
	}
	return out, nil
}

// Close stops the server and releases its socket.
func (s *peerServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	_ = s.ln.Close()
	_ = s.udp.Close()
}

// peerUDPBuffer is the receive buffer of the peer server's UDP socket: room
// for thousands of small datagrams.
const peerUDPBuffer = 8 << 20

// forceReadBuffer sets a UDP socket's receive buffer with SO_RCVBUFFORCE
// (root only), past net.core.rmem_max.
func forceReadBuffer(pc net.PacketConn, size int) error {
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return fmt.Errorf("receive buffer: %T has no raw socket", pc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("receive buffer: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
	}); err != nil {
		return fmt.Errorf("receive buffer: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("setsockopt SO_RCVBUFFORCE %d: %w", size, serr)
	}
	return nil
}
