package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"lab/harness/execx"
	"lab/harness/node"
)

// EnvAgent, set to 1, makes a lab binary (or a test binary whose TestMain
// calls MaybeMain) run as the agent instead of its normal main.
const EnvAgent = "LAB_AGENT"

// MaybeMain runs the agent on stdin/stdout and exits when the process was
// started as one; otherwise it returns at once. Test binaries that boot
// nodes call it first in TestMain, since the lab pushes its own executable
// into nodes as the agent.
func MaybeMain() {
	if os.Getenv(EnvAgent) != "1" {
		return
	}
	os.Exit(Main())
}

// RunTests is the whole TestMain of a test package whose tests boot nodes:
// the test binary serves as the agent pushed into them.
func RunTests(m interface{ Run() int }) {
	MaybeMain()
	os.Exit(m.Run())
}

// Main serves the protocol on stdin and stdout until stdin ends and
// returns the exit status. Errors and logs go to stderr.
func Main() int {
	// The lab ends the agent by closing its stdin; a terminal's signals
	// are not for it. They are caught and dropped, not ignored: an ignored
	// signal stays ignored in the commands the agent runs (OpExec).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	if err := Run(context.Background(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lab agent:", err)
		return 1
	}
	return 0
}

// Conn is a running agent in a node.
type Conn struct {
	*Client
	stream node.Stream
	log    *tailBuffer
}

// tailBuffer keeps the last 4 KiB the agent wrote to stderr and forwards
// everything to w.
type tailBuffer struct {
	mu sync.Mutex
	w  io.Writer
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	if t.w != nil {
		_, _ = t.w.Write(p)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// Call calls the agent; when the agent has gone away, the error says how
// it ended and what it last printed.
func (c *Conn) Call(ctx context.Context, op string, args, result any) error {
	err := c.Client.Call(ctx, op, args, result)
	if err != nil && c.Client.closed() {
		done := make(chan error, 1)
		go func() { done <- c.stream.Wait() }()
		select {
		case werr := <-done:
			err = fmt.Errorf("%w (agent exited: %v; its stderr: %q)", err, werr, c.log.String())
		case <-time.After(time.Second):
			err = fmt.Errorf("%w (agent still running; its stderr: %q)", err, c.log.String())
		}
	}
	return err
}

// Push copies the lab executable exe into the node as the agent.
func Push(ctx context.Context, n node.Node, exe string) error {
	if err := n.CopyIn(ctx, exe, Binary, 0o755); err != nil {
		return fmt.Errorf("push agent into %s: %w", n.Name(), err)
	}
	return nil
}

// Start starts the pushed agent in the node with env (KEY=VALUE added to
// the node's environment: the iptables shim first in PATH, a kernel
// profile's library) and returns a connection to it; its stderr goes to
// log.
func Start(ctx context.Context, n node.Node, env []string, log io.Writer) (*Conn, error) {
	env = append(append([]string(nil), env...), EnvAgent+"=1")
	tb := &tailBuffer{w: log}
	s, err := n.Start(ctx, execx.Cmd{Argv: []string{Binary, "agent"}, Env: env}, tb)
	if err != nil {
		return nil, fmt.Errorf("start agent in %s: %w", n.Name(), err)
	}
	return &Conn{Client: NewClient(s.Stdout(), s.Stdin()), stream: s, log: tb}, nil
}

// Stop closes the agent's stdin (it stops every server it runs and exits)
// and waits for it, killing it when it does not end.
func (c *Conn) Stop() error {
	if c == nil {
		return nil
	}
	return c.stream.Kill()
}
