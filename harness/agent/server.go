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
	s := &server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// close stops the server and releases the socket (and so its hold on the
// namespace).
func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	_ = s.ln.Close()
}
