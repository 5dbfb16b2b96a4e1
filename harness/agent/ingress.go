package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"lab/harness/netns"
	"lab/harness/probe"
)

// UpstreamTimeout bounds an ingress's connect to an upstream. A rejected
// connect fails at once (502); one whose packets vanish waits this long
// (504), well under the clients' probe timeout.
const UpstreamTimeout = 500 * time.Millisecond

// IngressRoute sends requests whose path starts with Path to Upstream.
type IngressRoute struct {
	// Path is the request path prefix the route matches.
	Path string `json:"path"`
	// Upstream is where matching requests go.
	Upstream netip.AddrPort `json:"upstream"`
	// Via says what the upstream is, for logs (e.g. "Service zeus").
	Via string `json:"via"`
}

// ingress is an ingress controller in a pod: a real reverse proxy
// (net/http/httputil.ReverseProxy) whose sockets, listening and upstream,
// live in the pod's network namespace, so its upstream connections are
// routed through the node like any pod's. Like ingress-nginx it answers
// 502 when the upstream connect fails and 504 when it times out.
type ingress struct {
	podNS  string
	routes []IngressRoute
	srv    *http.Server
	lns    []net.Listener

	mu  sync.Mutex
	log []string
}

// startIngress runs an ingress controller in the pod namespace at podNS,
// listening on each of ports (plain HTTP on every one, 443 included) with
// the given routes (longest path prefix wins; no match answers 404).
func startIngress(podNS string, ports []int, routes []IngressRoute) (*ingress, error) {
	if len(routes) == 0 {
		return nil, fmt.Errorf("no routes")
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("no ports")
	}
	in := &ingress{podNS: podNS, routes: append([]IngressRoute(nil), routes...)}
	sort.SliceStable(in.routes, func(i, j int) bool { return len(in.routes[i].Path) > len(in.routes[j].Path) })
	for _, port := range ports {
		ln, err := netns.Listen(podNS, "tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			for _, l := range in.lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("listen on %d: %w", port, err)
		}
		in.lns = append(in.lns, ln)
	}
	in.srv = &http.Server{Handler: in, ReadHeaderTimeout: 5 * time.Second}
	for _, ln := range in.lns {
		go func() { _ = in.srv.Serve(ln) }()
	}
	return in, nil
}

// localPort is the port a request reached the controller on, for its log.
func localPort(req *http.Request) string {
	if a, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			return ":" + p + " "
		}
	}
	return ""
}

// ServeHTTP proxies one request to the route's upstream.
func (in *ingress) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var rt *IngressRoute
	for i := range in.routes {
		if strings.HasPrefix(req.URL.Path, in.routes[i].Path) {
			rt = &in.routes[i]
			break
		}
	}
	if rt == nil {
		in.logf("%s%s %s: 404 no route", localPort(req), req.Method, req.URL.Path)
		http.Error(w, "404 Not Found: no ingress route", http.StatusNotFound)
		return
	}
	target := &url.URL{Scheme: "http", Host: rt.Upstream.String()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: &http.Transport{DialContext: probe.Dialer(in.podNS, UpstreamTimeout), DisableKeepAlives: true},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			code := http.StatusBadGateway
			if probe.Classify(err) == probe.Timeout || errors.Is(err, os.ErrDeadlineExceeded) {
				code = http.StatusGatewayTimeout
			}
			in.logf("%s%s %s -> %s (%s): %d: %v", localPort(req), r.Method, r.URL.Path, target.Host, rt.Via, code, err)
			http.Error(w, fmt.Sprintf("%d %s: upstream %s (%s): %v", code, http.StatusText(code), target.Host, rt.Via, err), code)
		},
		ModifyResponse: func(resp *http.Response) error {
			in.logf("%s%s %s -> %s (%s): %d", localPort(req), req.Method, req.URL.Path, target.Host, rt.Via, resp.StatusCode)
			return nil
		},
	}
	rp.ServeHTTP(w, req)
}

func (in *ingress) logf(format string, a ...any) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.log = append(in.log, time.Now().UTC().Format("15:04:05.000 ")+fmt.Sprintf(format, a...))
}

// Log returns the controller's access and error log.
func (in *ingress) Log() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.log...)
}

func (in *ingress) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = in.srv.Shutdown(ctx)
	for _, ln := range in.lns {
		_ = ln.Close()
	}
}
