package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"lab/harness/netns"
)

// Server is a real HTTP server on an internet host. It records the peer
// address of every connection it accepts: after the node's SNAT, the port
// is the one the provider firewall judged on the way back.
type Server struct {
	srv *http.Server
	ln  net.Listener

	mu    sync.Mutex
	peers []netip.AddrPort
}

// Serve listens on port inside the namespace at path and answers every
// request with 200 and a line naming ident.
func Serve(path string, port int, ident string) (*Server, error) {
	ln, err := netns.Listen(path, "tcp4", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("internet host %s: listen on %d: %w", ident, port, err)
	}
	s := &Server{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s port %d: hello %s\n", ident, port, r.RemoteAddr)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
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
	return s, nil
}

// Peers returns the peers of the connections accepted since the last Reset.
func (s *Server) Peers() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.peers...)
}

// Reset forgets the recorded peers.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers = nil
}

// Close stops the server and releases its socket.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	_ = s.ln.Close()
}
