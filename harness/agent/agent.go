package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"lab/harness/iptables"
	"lab/harness/netns"
	"lab/harness/probe"
)

// Agent is the in-node state: the node's pods (network namespaces inside
// the node) and the servers running in them. Its methods are the protocol's
// operations; Handlers binds them.
type Agent struct {
	log io.Writer

	mu        sync.Mutex
	pods      map[string]*pod
	ingresses map[string]*ingress
	peers     *peerServer
	// sockets are other listeners (DNS servers, stubs), closed by Close.
	sockets []io.Closer
	// decisions are the running batches that take decisions, by key.
	decisions map[string]chan probe.Decision
}

// pod is one pod sandbox of the node: a named network namespace.
type pod struct {
	ns      string // path inside the node
	servers []*server
}

// New returns an agent logging to log.
func New(log io.Writer) *Agent {
	return &Agent{log: log, pods: map[string]*pod{}, ingresses: map[string]*ingress{}}
}

// Handlers returns the agent's operations by name.
func (a *Agent) Handlers() map[string]Handler {
	return map[string]Handler{
		OpShim:       Typed(a.shim),
		OpSysctl:     Typed(a.sysctl),
		OpReadFile:   Typed(a.readFile),
		OpRoutedPod:  Typed(a.routedPod),
		OpCNIAdd:     Typed(a.cniAdd),
		OpCNIDel:     Typed(a.cniDel),
		OpPodDelete:  Typed(a.podDelete),
		OpServe:      Typed(a.serve),
		OpUnserve:    Typed(a.unserve),
		OpIngress:    Typed(a.ingress),
		OpIngressLog: Typed(a.ingressLog),
		OpHTTP:       Typed(a.http),
		OpDial:       Typed(a.dial),
		OpBatch:      Typed(a.batch),
		OpDecide:     Typed(a.decide),
		OpPeerServe:  Typed(a.peerServe),
		OpPeers:      Typed(a.peersOp),
		OpTrace:      Typed(a.trace),
		OpFacts:      Typed(a.facts),
		OpConntrack:  Typed(a.conntrack),
		OpUDP:        Typed(a.udp),
		OpUDPBatch:   Typed(a.udpBatch),
		OpPortmap:    Typed(a.portmap),
		OpDNSServe:   Typed(a.dnsServe),
		OpDNSStub:    Typed(a.dnsStub),
		OpDNSLookup:  Typed(a.dnsLookup),
		OpExec:       Typed(a.exec),
	}
}

// Run serves the protocol on r and w until r ends, then stops every server
// the agent started. `lab agent` calls it with its stdin and stdout.
func Run(ctx context.Context, r io.Reader, w io.Writer, log io.Writer) error {
	a := New(log)
	defer a.Close()
	return Serve(ctx, r, w, a.Handlers())
}

// Close stops every server of every pod.
func (a *Agent) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.pods {
		for _, s := range p.servers {
			s.close()
		}
		p.servers = nil
	}
	for _, in := range a.ingresses {
		in.close()
	}
	if a.peers != nil {
		a.peers.Close()
	}
	for _, s := range a.sockets {
		_ = s.Close()
	}
}

// podNS returns the namespace path of a pod, or "" (the node's own
// namespace) for name "".
func (a *Agent) podNS(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pods[name]
	if !ok {
		return "", fmt.Errorf("no pod %q on this node", name)
	}
	return p.ns, nil
}

// newPod creates the pod's network namespace inside the node.
func (a *Agent) newPod(ctx context.Context, name string) (*pod, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") || len(name) > 200 {
		return nil, fmt.Errorf("bad pod namespace name %q", name)
	}
	a.mu.Lock()
	if _, dup := a.pods[name]; dup {
		a.mu.Unlock()
		return nil, fmt.Errorf("pod %q already exists on this node", name)
	}
	p := &pod{}
	a.pods[name] = p
	a.mu.Unlock()
	path, err := netns.Create(ctx, name)
	if err != nil {
		a.mu.Lock()
		delete(a.pods, name)
		a.mu.Unlock()
		return nil, err
	}
	p.ns = path
	return p, nil
}

func (a *Agent) shim(ctx context.Context, s ShimArgs) (Empty, error) {
	return Empty{}, iptables.Shim(s.Dir, s.Mode)
}

func (a *Agent) sysctl(ctx context.Context, s SysctlArgs) (Empty, error) {
	path, err := a.podNS(s.Pod)
	if err != nil {
		return Empty{}, err
	}
	return Empty{}, sysctls(path, s.Set)
}

func (a *Agent) readFile(ctx context.Context, r ReadFileArgs) (string, error) {
	path, err := a.podNS(r.Pod)
	if err != nil {
		return "", err
	}
	var data []byte
	err = within(path, func() error {
		var rerr error
		data, rerr = os.ReadFile(r.Path)
		return rerr
	})
	return string(data), err
}

// within runs fn in the namespace at path, or right here for "".
func within(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return netns.Do(path, fn)
}

// sysctls writes /proc/sys/KEY=VALUE inside the namespace at path (the
// net.* sysctls belong to the namespace of the thread that opens them).
func sysctls(path string, kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return within(path, func() error {
		for _, k := range keys {
			if strings.Contains(k, "..") {
				return fmt.Errorf("sysctl %q: bad key", k)
			}
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(kv[k]), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(k, "/", "."), kv[k], err)
			}
		}
		return nil
	})
}

func (a *Agent) podDelete(ctx context.Context, p PodArgs) (Empty, error) {
	a.mu.Lock()
	pd, ok := a.pods[p.Pod]
	delete(a.pods, p.Pod)
	in := a.ingresses[p.Pod]
	delete(a.ingresses, p.Pod)
	a.mu.Unlock()
	if !ok {
		return Empty{}, fmt.Errorf("no pod %q on this node", p.Pod)
	}
	for _, s := range pd.servers {
		s.close()
	}
	if in != nil {
		in.close()
	}
	return Empty{}, netns.Delete(ctx, p.Pod)
}

func (a *Agent) serve(ctx context.Context, s ServeArgs) (Empty, error) {
	path, err := a.podNS(s.Pod)
	if err != nil {
		return Empty{}, err
	}
	var started []*server
	for _, port := range s.Ports {
		srv, err := listen(path, port, s.Ident)
		if err != nil {
			for _, x := range started {
				x.close()
			}
			return Empty{}, err
		}
		started = append(started, srv)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.pods[s.Pod]; ok {
		p.servers = append(p.servers, started...)
	}
	return Empty{}, nil
}

func (a *Agent) unserve(ctx context.Context, p PodArgs) (Empty, error) {
	a.mu.Lock()
	pd, ok := a.pods[p.Pod]
	var list []*server
	if ok {
		list, pd.servers = pd.servers, nil
	}
	a.mu.Unlock()
	if !ok {
		return Empty{}, fmt.Errorf("no pod %q on this node", p.Pod)
	}
	for _, s := range list {
		s.close()
	}
	return Empty{}, nil
}

func (a *Agent) ingress(ctx context.Context, i IngressArgs) (Empty, error) {
	path, err := a.podNS(i.Pod)
	if err != nil {
		return Empty{}, err
	}
	in, err := startIngress(path, i.Ports, i.Routes)
	if err != nil {
		return Empty{}, fmt.Errorf("ingress in pod %s: %w", i.Pod, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old := a.ingresses[i.Pod]; old != nil {
		old.close()
	}
	a.ingresses[i.Pod] = in
	return Empty{}, nil
}

func (a *Agent) ingressLog(ctx context.Context, p PodArgs) ([]string, error) {
	a.mu.Lock()
	in, ok := a.ingresses[p.Pod]
	a.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no ingress in pod %q", p.Pod)
	}
	return in.Log(), nil
}

func (a *Agent) trace(ctx context.Context, t TraceArgs) (Trace, error) {
	path, err := a.podNS(t.From)
	if err != nil {
		return Trace{}, err
	}
	return traceTCP(ctx, path, t.Src, t.Dst)
}
