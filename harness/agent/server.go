package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"lab/harness/netns"
)

// server is a real HTTP listener inside a pod's namespace: the pod's
// container. Its socket belongs to the pod namespace even though it is served
// from this process.
type server struct {
	srv *http.Server
	ln  net.Listener
	// udp answers datagrams on the same port (see echoUDP).
	udp net.PacketConn
}

// listen opens a TCP listener on port inside the namespace at path and serves
// a fixed answer naming the pod, so probes can tell which pod answered.
func listen(path string, port int, ident string) (*server, error) {
	ln, err := netns.Listen(path, "tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("pod %s: listen on %d: %w", ident, port, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s port %d\n", ident, port)
	})
	pc, err := netns.ListenPacket(path, "udp", fmt.Sprintf(":%d", port))
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("pod %s: listen on udp %d: %w", ident, port, err)
	}
	s := &server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, udp: pc}
	go func() { _ = s.srv.Serve(ln) }()
	go echoUDP(pc, fmt.Sprintf("%s port %d/udp", ident, port))
	return s, nil
}

// close stops the server and releases the socket (and so its hold on the
// namespace).
func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	_ = s.ln.Close()
	_ = s.udp.Close()
}

// echoUDP answers every datagram with one line naming the pod and the
// size it received, until pc is closed.
func echoUDP(pc net.PacketConn, ident string) {
	buf := make([]byte, 65536)
	for {
		n, peer, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo([]byte(fmt.Sprintf("%s: %d bytes from %s\n", ident, n, peer)), peer)
	}
}
