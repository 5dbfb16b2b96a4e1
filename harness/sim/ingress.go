package sim

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
	Path string
	// Upstream is where matching requests go.
	Upstream netip.AddrPort
	// Via says what the upstream is, for logs (e.g. "Service zeus").
	Via string
}

// Ingress is an ingress controller in a pod: a real reverse proxy
// (net/http/httputil.ReverseProxy) whose sockets, listening and upstream,
// live in the pod's network namespace, so its upstream connections are
// routed through the node like any pod's. Like ingress-nginx it answers
// 502 when the upstream connect fails and 504 when it times out.
type Ingress struct {
	// Pod is the pod the controller runs in.
	Pod *RoutedPod
	// Routes are the controller's routes, longest path first.
	Routes []IngressRoute
	srv    *http.Server
	ln     net.Listener

	mu  sync.Mutex
	log []string
}

// ingresses is the cell's ingress controllers by pod name, kept in Ext.
type ingresses struct {
	mu sync.Mutex
	by map[string]*Ingress
}

func (c *Cluster) ingresses() *ingresses {
	return c.Ext("ingress", func() any { return &ingresses{by: map[string]*Ingress{}} }).(*ingresses)
}

// Ingress returns the ingress controller running in the named pod.
func (c *Cluster) Ingress(pod string) (*Ingress, bool) {
	reg := c.ingresses()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	in, ok := reg.by[pod]
	return in, ok
}

// Ingresses returns the cell's ingress controllers sorted by pod name.
func (c *Cluster) Ingresses() []*Ingress {
	reg := c.ingresses()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	out := make([]*Ingress, 0, len(reg.by))
	for _, in := range reg.by {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod.Name < out[j].Pod.Name })
	return out
}

// AddIngressPod creates a pod on the routed network and runs an ingress
// controller in it on port with the given routes (longest path prefix
// wins; no match answers 404). The pod's Port is set to port, so Services
// can target it.
func (r *RoutedNet) AddIngressPod(ctx context.Context, name string, port int, routes []IngressRoute) (*Ingress, error) {
	if len(routes) == 0 {
		return nil, fmt.Errorf("ingress pod %s: no routes", name)
	}
	p, err := r.AddPod(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	in := &Ingress{Pod: p, Routes: append([]IngressRoute(nil), routes...)}
	sort.SliceStable(in.Routes, func(i, j int) bool { return len(in.Routes[i].Path) > len(in.Routes[j].Path) })
	in.ln, err = netns.Listen(p.NetNS, "tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("ingress pod %s: listen on %d: %w", name, port, err)
	}
	in.srv = &http.Server{Handler: in, ReadHeaderTimeout: 5 * time.Second}
	r.node.cluster.OnClose(in.close)
	go func() { _ = in.srv.Serve(in.ln) }()
	p.Port = port
	reg := r.node.cluster.ingresses()
	reg.mu.Lock()
	reg.by[name] = in
	reg.mu.Unlock()
	return in, nil
}

// ServeHTTP proxies one request to the route's upstream.
func (in *Ingress) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var rt *IngressRoute
	for i := range in.Routes {
		if strings.HasPrefix(req.URL.Path, in.Routes[i].Path) {
			rt = &in.Routes[i]
			break
		}
	}
	if rt == nil {
		in.logf("%s %s: 404 no route", req.Method, req.URL.Path)
		http.Error(w, "404 Not Found: no ingress route", http.StatusNotFound)
		return
	}
	target := &url.URL{Scheme: "http", Host: rt.Upstream.String()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: &http.Transport{DialContext: probe.Dialer(in.Pod.NetNS, UpstreamTimeout), DisableKeepAlives: true},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			code := http.StatusBadGateway
			if probe.Classify(err) == probe.Timeout || errors.Is(err, os.ErrDeadlineExceeded) {
				code = http.StatusGatewayTimeout
			}
			in.logf("%s %s -> %s (%s): %d: %v", r.Method, r.URL.Path, target.Host, rt.Via, code, err)
			http.Error(w, fmt.Sprintf("%d %s: upstream %s (%s): %v", code, http.StatusText(code), target.Host, rt.Via, err), code)
		},
		ModifyResponse: func(resp *http.Response) error {
			in.logf("%s %s -> %s (%s): %d", req.Method, req.URL.Path, target.Host, rt.Via, resp.StatusCode)
			return nil
		},
	}
	rp.ServeHTTP(w, req)
}

func (in *Ingress) logf(format string, a ...any) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.log = append(in.log, time.Now().UTC().Format("15:04:05.000 ")+fmt.Sprintf(format, a...))
}

// Log returns the controller's access and error log.
func (in *Ingress) Log() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.log...)
}

func (in *Ingress) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = in.srv.Shutdown(ctx)
	_ = in.ln.Close()
}
