// Package lxdfake is a fake LXD daemon for tests of request shapes: an
// HTTP server on a unix socket speaking the part of LXD's REST API the
// pinned canonical/lxd client uses to create, start, exec in and delete
// instances (GET /1.0, the default profile, POST /1.0/instances, PUT
// .../state, POST .../exec with its stdin/stdout/stderr/control
// websockets, operations and /1.0/events). It records every request; an
// Exec function answers commands. It runs nothing: it is a recorder, not
// an LXD.
package lxdfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/canonical/lxd/shared/api"
	"github.com/gorilla/websocket"
)

// Request is one recorded request.
type Request struct {
	Method, Path string
	// Body is the request's JSON body (nil without one).
	Body json.RawMessage
}

// ExecCall is one recorded command with the stdin it was given.
type ExecCall struct {
	Instance string
	Command  []string
	Env      map[string]string
	Stdin    []byte
}

// ExecFunc answers a command run in an instance: its output and exit code.
type ExecFunc func(call ExecCall) (stdout, stderr string, code int)

// Server is a fake LXD daemon.
type Server struct {
	// Socket is the unix socket's path.
	Socket string
	// Extensions are the API extensions GET /1.0 announces.
	Extensions []string

	srv  *http.Server
	ln   net.Listener
	exec ExecFunc

	evMu      sync.Mutex // serialises writes to the event websockets
	mu        sync.Mutex
	requests  []Request
	calls     []ExecCall
	instances map[string]*api.Instance
	ops       map[string]*op
	networks  map[string]*api.Network
	events    []*websocket.Conn
	nextID    int
}

type op struct {
	api.Operation
	secrets map[string]string // fd -> secret
	conns   map[string]chan *websocket.Conn
	done    chan struct{}
}

// Start serves a fake LXD on dir/unix.socket; exec answers commands (nil:
// every command succeeds without output).
func Start(dir string, exec ExecFunc) (*Server, error) {
	if exec == nil {
		exec = func(ExecCall) (string, string, int) { return "", "", 0 }
	}
	s := &Server{Socket: filepath.Join(dir, "unix.socket"), exec: exec,
		Extensions: []string{"instances", "virtual-machines", "cloud_init", "container_exec_recording", "network"},
		instances:  map[string]*api.Instance{}, ops: map[string]*op{}, networks: map[string]*api.Network{}}
	ln, err := net.Listen("unix", s.Socket)
	if err != nil {
		return nil, fmt.Errorf("lxdfake: listen on %s: %w", s.Socket, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	s.mu.Lock()
	for _, c := range s.events {
		_ = c.Close()
	}
	s.mu.Unlock()
	return s.srv.Close()
}

// Requests returns the requests so far (websocket upgrades and GETs of
// operations and events excluded: they are the client's plumbing).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Execs returns the commands run so far, in order.
func (s *Server) Execs() []ExecCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ExecCall(nil), s.calls...)
}

// Instances returns the names of the instances that exist.
func (s *Server) Instances() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.instances {
		out = append(out, n)
	}
	return out
}

func sync200(w http.ResponseWriter, md any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": md})
}

func fail(w http.ResponseWriter, code int, format string, a ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": fmt.Sprintf(format, a...), "error_code": code})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	plumbing := strings.HasPrefix(path, "/1.0/operations") || path == "/1.0/events"
	if !plumbing {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		rq := Request{Method: r.Method, Path: path}
		if len(body) > 0 {
			rq.Body = body
		}
		s.requests = append(s.requests, rq)
		s.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
	}
	parts := strings.Split(strings.TrimPrefix(path, "/1.0"), "/") // "", "instances", NAME, "exec"
	switch {
	case path == "/1.0" && r.Method == http.MethodGet:
		sync200(w, map[string]any{"api_extensions": s.Extensions, "api_status": "stable", "api_version": "1.0", "auth": "trusted",
			"environment": api.ServerEnvironment{ServerVersion: "5.21.0-lxdfake", Driver: "lxc | qemu", Server: "lxd", ServerName: "lxdfake"}})
	case path == "/1.0/events":
		s.serveEvents(w, r)
	case path == "/1.0/profiles/default" && r.Method == http.MethodGet:
		sync200(w, map[string]any{"name": "default", "config": map[string]string{}, "devices": map[string]map[string]string{
			"root": {"type": "disk", "path": "/", "pool": "default"},
			"eth0": {"type": "nic", "network": "lxdbr0", "name": "eth0"}}})
	case path == "/1.0/instances" && r.Method == http.MethodPost:
		s.create(w, r)
	case path == "/1.0/instances" && r.Method == http.MethodGet:
		s.listInstances(w)
	case path == "/1.0/networks" || len(parts) == 3 && parts[1] == "networks":
		s.network(w, r, strings.TrimPrefix(strings.TrimPrefix(path, "/1.0/networks"), "/"))
	case len(parts) == 3 && parts[1] == "instances":
		s.instance(w, r, parts[2])
	case len(parts) == 4 && parts[1] == "instances" && parts[3] == "state" && r.Method == http.MethodPut:
		s.state(w, r, parts[2])
	case len(parts) == 4 && parts[1] == "instances" && parts[3] == "exec" && r.Method == http.MethodPost:
		s.execute(w, r, parts[2])
	case len(parts) >= 3 && parts[1] == "operations":
		s.operation(w, r, parts[2], strings.Join(parts[3:], "/"))
	default:
		fail(w, http.StatusNotFound, "lxdfake: %s %s is not part of the fake", r.Method, path)
	}
}

// newOp registers an operation; a finished one (err or success) is final
// before the client sees it.
func (s *Server) newOp(class string, final bool, md map[string]any) *op {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	o := &op{Operation: api.Operation{ID: fmt.Sprintf("op-%d", s.nextID), Class: class, Status: "Running",
		StatusCode: api.Running, Metadata: md, CreatedAt: time.Now(), UpdatedAt: time.Now()},
		done: make(chan struct{})}
	if final {
		o.Status, o.StatusCode = "Success", api.Success
		close(o.done)
	}
	s.ops[o.ID] = o
	return o
}

func async(w http.ResponseWriter, o *op) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/1.0/operations/"+o.ID)
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "async", "status": "Operation created", "status_code": 100,
		"operation": "/1.0/operations/" + o.ID, "metadata": o.Operation})
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req api.InstancesPost
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "lxdfake: bad instance request: %v", err)
		return
	}
	s.mu.Lock()
	if _, dup := s.instances[req.Name]; dup {
		s.mu.Unlock()
		fail(w, http.StatusConflict, "Instance %q already exists", req.Name)
		return
	}
	cfg := map[string]string{}
	for k, v := range req.Config {
		cfg[k] = v
	}
	s.instances[req.Name] = &api.Instance{Name: req.Name, Type: string(req.Type), Status: "Stopped", StatusCode: api.Stopped,
		Config: cfg, Devices: map[string]map[string]string{}, Profiles: req.Profiles}
	for k, v := range req.Devices {
		s.instances[req.Name].Devices[k] = v
	}
	s.mu.Unlock()
	async(w, s.newOp("task", true, nil))
}

func (s *Server) instance(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	in, ok := s.instances[name]
	if ok && r.Method == http.MethodDelete {
		delete(s.instances, name)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		fail(w, http.StatusNotFound, "Instance not found")
	case r.Method == http.MethodGet:
		w.Header().Set("ETag", "fake")
		sync200(w, in)
	case r.Method == http.MethodDelete:
		async(w, s.newOp("task", true, nil))
	case r.Method == http.MethodPut:
		s.update(w, r, in)
	default:
		fail(w, http.StatusMethodNotAllowed, "lxdfake: %s of an instance is not part of the fake", r.Method)
	}
}

func (s *Server) state(w http.ResponseWriter, r *http.Request, name string) {
	var req api.InstanceStatePut
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "lxdfake: bad state request: %v", err)
		return
	}
	s.mu.Lock()
	in, ok := s.instances[name]
	if ok {
		switch req.Action {
		case "start":
			in.Status, in.StatusCode = "Running", api.Running
		case "stop":
			in.Status, in.StatusCode = "Stopped", api.Stopped
		}
	}
	s.mu.Unlock()
	if !ok {
		fail(w, http.StatusNotFound, "Instance not found")
		return
	}
	async(w, s.newOp("task", true, nil))
}
