package lxdfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/canonical/lxd/shared/api"
	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func secret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// execute answers POST /1.0/instances/NAME/exec as LXD does without a
// terminal: an operation whose fds (0, 1, 2, control) are websocket
// secrets; once all four are connected, stdin is read to its barrier, the
// command answered by ExecFunc, stdout and stderr written and closed, and
// the operation finishes with the exit code in metadata.return.
func (s *Server) execute(w http.ResponseWriter, r *http.Request, name string) {
	var req api.InstanceExecPost
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "lxdfake: bad exec request: %v", err)
		return
	}
	s.mu.Lock()
	in, ok := s.instances[name]
	running := ok && in.StatusCode == api.Running
	s.mu.Unlock()
	switch {
	case !ok:
		fail(w, http.StatusNotFound, "Instance not found")
		return
	case !running:
		fail(w, http.StatusBadRequest, "Instance is not running")
		return
	case req.Interactive || req.RecordOutput:
		fail(w, http.StatusBadRequest, "lxdfake: only non-interactive exec with websockets is part of the fake")
		return
	}
	secrets := map[string]string{"0": secret(), "1": secret(), "2": secret(), "control": secret()}
	fds := map[string]any{}
	for k, v := range secrets {
		fds[k] = v
	}
	o := s.newOp("websocket", false, map[string]any{"fds": fds})
	o.secrets = secrets
	o.conns = map[string]chan *websocket.Conn{}
	for k := range secrets {
		o.conns[k] = make(chan *websocket.Conn, 1)
	}
	go s.run(o, ExecCall{Instance: name, Command: req.Command, Env: req.Environment})
	async(w, o)
}

func (s *Server) run(o *op, call ExecCall) {
	conns := map[string]*websocket.Conn{}
	timeout := time.After(30 * time.Second)
	for k, ch := range o.conns {
		select {
		case c := <-ch:
			conns[k] = c
		case <-timeout:
			s.finish(o, -1, "lxdfake: the client did not connect websocket "+k)
			return
		}
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	go func() { // the control socket: signals are ignored
		for {
			if _, _, err := conns["control"].ReadMessage(); err != nil {
				return
			}
		}
	}()
	for {
		mt, data, err := conns["0"].ReadMessage()
		if err != nil || mt != websocket.BinaryMessage {
			break // the barrier (a text message) or a close ends stdin
		}
		call.Stdin = append(call.Stdin, data...)
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	stdout, stderr, code := s.exec(call)
	for fd, out := range map[string]string{"1": stdout, "2": stderr} {
		c := conns[fd]
		if out != "" {
			_ = c.WriteMessage(websocket.BinaryMessage, []byte(out))
		}
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	}
	s.finish(o, code, "")
}

// finish makes the operation final and tells the event listeners.
func (s *Server) finish(o *op, code int, errMsg string) {
	s.mu.Lock()
	md := map[string]any{}
	for k, v := range o.Metadata {
		md[k] = v
	}
	md["return"] = code
	o.Metadata = md
	o.Status, o.StatusCode, o.Err, o.UpdatedAt = "Success", api.Success, errMsg, time.Now()
	if errMsg != "" {
		o.Status, o.StatusCode = "Failure", api.Failure
	}
	close(o.done)
	ev, _ := json.Marshal(o.Operation)
	listeners := append([]*websocket.Conn(nil), s.events...)
	s.mu.Unlock()
	s.evMu.Lock() // a websocket takes one writer at a time
	defer s.evMu.Unlock()
	for _, c := range listeners {
		_ = c.WriteJSON(api.Event{Type: "operation", Timestamp: time.Now(), Metadata: ev})
	}
}

// operation answers GET /1.0/operations/ID, .../wait and .../websocket.
func (s *Server) operation(w http.ResponseWriter, r *http.Request, id, sub string) {
	s.mu.Lock()
	o, ok := s.ops[id]
	s.mu.Unlock()
	if !ok {
		fail(w, http.StatusNotFound, "Operation not found")
		return
	}
	switch sub {
	case "":
	case "wait":
		select {
		case <-o.done:
		case <-r.Context().Done():
			return
		}
	case "websocket":
		fd := ""
		for k, v := range o.secrets {
			if v == r.URL.Query().Get("secret") {
				fd = k
			}
		}
		if fd == "" {
			fail(w, http.StatusForbidden, "Invalid websocket secret")
			return
		}
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		o.conns[fd] <- c
		return
	default:
		fail(w, http.StatusNotFound, "lxdfake: operations/%s is not part of the fake", sub)
		return
	}
	s.mu.Lock()
	cur := o.Operation
	s.mu.Unlock()
	sync200(w, cur)
}

// serveEvents keeps an /1.0/events websocket for operation events.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.events = append(s.events, c)
	s.mu.Unlock()
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
}
