// Package agent is the lab's in-node agent and its protocol. The lab binary
// itself (`lab agent`) is pushed into every node through the node primitives
// and driven over its standard input and output with JSON lines: one
// Request per line in, one Response per line out, matched by ID, any number
// in flight. The agent does the in-node work that needs code: pod sandboxes
// (Calico-style routed pods, CNI ADD/DEL through libcni with the plugins
// pushed into the node), HTTP servers and an ingress in pods, probes,
// connection batches, nft traces and reading the node's facts.
package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Request is one call: an operation name and its JSON arguments.
type Request struct {
	ID   uint64          `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response answers the Request with the same ID: a JSON result or an error.
type Response struct {
	ID     uint64          `json:"id"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// OpCancel cancels the in-flight request whose ID is in CancelArgs.
const OpCancel = "cancel"

// CancelArgs names the request to cancel.
type CancelArgs struct {
	ID uint64 `json:"id"`
}

// MaxLine bounds one protocol line (a large batch result, a trace).
const MaxLine = 16 << 20

// Client calls an agent over a pair of streams. It is safe for concurrent
// use.
type Client struct {
	w    io.WriteCloser
	wmu  sync.Mutex
	mu   sync.Mutex
	next uint64
	wait map[uint64]chan Response
	err  error // set once the read side ended
	done chan struct{}
}

// NewClient starts reading responses from r; requests are written to w.
func NewClient(r io.Reader, w io.WriteCloser) *Client {
	c := &Client{w: w, wait: map[uint64]chan Response{}, done: make(chan struct{})}
	go c.read(r)
	return c
}

func (c *Client) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for sc.Scan() {
		var resp Response
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			c.fail(fmt.Errorf("agent: bad response line %.200q: %w", sc.Text(), err))
			return
		}
		c.mu.Lock()
		ch := c.wait[resp.ID]
		delete(c.wait, resp.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	c.fail(fmt.Errorf("agent: connection closed: %w", err))
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// Call sends op with args and decodes the result into result (nil: ignore).
// When ctx ends first, the agent is asked to cancel the request.
func (c *Client) Call(ctx context.Context, op string, args, result any) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("agent %s: encode arguments: %w", op, err)
	}
	ch := make(chan Response, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return fmt.Errorf("agent %s: %w", op, c.err)
	}
	c.next++
	id := c.next
	c.wait[id] = ch
	c.mu.Unlock()
	if err := c.send(Request{ID: id, Op: op, Args: raw}); err != nil {
		c.forget(id)
		return fmt.Errorf("agent %s: %w", op, err)
	}
	select {
	case resp := <-ch:
		if resp.Error != "" {
			return errors.New(resp.Error)
		}
		if result != nil && len(resp.Result) > 0 {
			if err := json.Unmarshal(resp.Result, result); err != nil {
				return fmt.Errorf("agent %s: decode result: %w", op, err)
			}
		}
		return nil
	case <-ctx.Done():
		c.forget(id)
		cargs, _ := json.Marshal(CancelArgs{ID: id})
		_ = c.send(Request{Op: OpCancel, Args: cargs})
		return fmt.Errorf("agent %s: %w", op, ctx.Err())
	case <-c.done:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("agent %s: %w", op, err)
	}
}

// closed reports whether the agent's side of the connection has ended.
func (c *Client) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.wait, id)
	c.mu.Unlock()
}

func (c *Client) send(req Request) error {
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.w.Write(append(line, '\n'))
	return err
}

// Close closes the request stream; the agent ends when it reads EOF.
func (c *Client) Close() error { return c.w.Close() }

// Handler runs one operation: it decodes args and returns a result to
// encode as JSON.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// Serve reads requests from r until EOF and answers each on w, running
// every request in its own goroutine with handlers[op]. It returns when r
// ends and every request has been answered; ctx cancels them all.
func Serve(ctx context.Context, r io.Reader, w io.Writer, handlers map[string]Handler) error {
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	var wmu sync.Mutex
	write := func(resp Response) {
		line, err := json.Marshal(resp)
		if err != nil {
			line, _ = json.Marshal(Response{ID: resp.ID, Error: "agent: encode result: " + err.Error()})
		}
		if len(line) >= MaxLine {
			// The client would drop the whole connection on it.
			line, _ = json.Marshal(Response{ID: resp.ID, Error: fmt.Sprintf("agent: result of %d bytes is over the protocol's line limit (%d)", len(line), MaxLine)})
		}
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = w.Write(append(line, '\n'))
	}
	var mu sync.Mutex
	cancels := map[uint64]context.CancelFunc{}
	var wg sync.WaitGroup
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			write(Response{Error: fmt.Sprintf("agent: bad request line %.200q: %v", sc.Text(), err)})
			continue
		}
		if req.Op == OpCancel {
			var a CancelArgs
			_ = json.Unmarshal(req.Args, &a)
			mu.Lock()
			if f := cancels[a.ID]; f != nil {
				f()
			}
			mu.Unlock()
			continue
		}
		h, ok := handlers[req.Op]
		if !ok {
			write(Response{ID: req.ID, Error: fmt.Sprintf("agent: unknown operation %q", req.Op)})
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		mu.Lock()
		cancels[req.ID] = cancel
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(cancels, req.ID)
				mu.Unlock()
				cancel()
			}()
			resp := Response{ID: req.ID}
			res, err := safeCall(rctx, h, req.Args)
			if err != nil {
				resp.Error = err.Error()
			} else if res != nil {
				raw, merr := json.Marshal(res)
				if merr != nil {
					resp.Error = "agent: encode result: " + merr.Error()
				}
				resp.Result = raw
			}
			write(resp)
		}()
	}
	wg.Wait()
	return sc.Err()
}

// safeCall runs h, turning a panic into an error so one bad request does
// not take the agent (and the node's pod servers) down.
func safeCall(ctx context.Context, h Handler, args json.RawMessage) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("agent: panic: %v", r)
		}
	}()
	return h(ctx, args)
}

// Typed wraps a function with typed arguments as a Handler.
func Typed[A any, R any](f func(ctx context.Context, a A) (R, error)) Handler {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var a A
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, fmt.Errorf("agent: bad arguments: %w", err)
			}
		}
		return f(ctx, a)
	}
}
