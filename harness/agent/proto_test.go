package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipePair connects a Client to Serve over in-memory pipes.
func pipePair(t *testing.T, handlers map[string]Handler) (*Client, chan error) {
	t.Helper()
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Serve(context.Background(), reqR, respW, handlers)
		respW.Close()
		done <- err
	}()
	c := NewClient(respR, reqW)
	return c, done
}

type echoArgs struct {
	Text  string        `json:"text"`
	Sleep time.Duration `json:"sleep"`
}

func testHandlers(cancelled chan<- string) map[string]Handler {
	return map[string]Handler{
		"echo": Typed(func(ctx context.Context, a echoArgs) (string, error) {
			select {
			case <-time.After(a.Sleep):
				return strings.ToUpper(a.Text), nil
			case <-ctx.Done():
				cancelled <- a.Text
				return "", ctx.Err()
			}
		}),
		"fail": Typed(func(ctx context.Context, a echoArgs) (Empty, error) {
			return Empty{}, errors.New("failed: " + a.Text)
		}),
		"panic": Typed(func(ctx context.Context, a echoArgs) (Empty, error) {
			panic("boom")
		}),
	}
}

func TestCallResultAndErrors(t *testing.T) {
	c, done := pipePair(t, testHandlers(make(chan string, 4)))
	ctx := context.Background()
	var out string
	if err := c.Call(ctx, "echo", echoArgs{Text: "hi"}, &out); err != nil || out != "HI" {
		t.Fatalf("echo = %q, %v", out, err)
	}
	if err := c.Call(ctx, "fail", echoArgs{Text: "x"}, nil); err == nil || err.Error() != "failed: x" {
		t.Errorf("fail = %v, want the handler's error", err)
	}
	if err := c.Call(ctx, "nope", nil, nil); err == nil || !strings.Contains(err.Error(), `unknown operation "nope"`) {
		t.Errorf("unknown op = %v", err)
	}
	if err := c.Call(ctx, "panic", nil, nil); err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("panic = %v, want it reported as an error", err)
	}
	// The agent survived the panic.
	if err := c.Call(ctx, "echo", echoArgs{Text: "still"}, &out); err != nil || out != "STILL" {
		t.Errorf("after panic: %q, %v", out, err)
	}
	if err := c.Call(ctx, "echo", map[string]any{"text": 5}, &out); err == nil || !strings.Contains(err.Error(), "bad arguments") {
		t.Errorf("bad args = %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v after EOF", err)
	}
	if err := c.Call(ctx, "echo", echoArgs{Text: "late"}, &out); err == nil {
		t.Error("call after the agent ended succeeded")
	}
}

// TestConcurrentCallsOutOfOrder checks answers are matched by ID: a slow
// call does not hold up fast ones.
func TestConcurrentCallsOutOfOrder(t *testing.T) {
	c, _ := pipePair(t, testHandlers(make(chan string, 4)))
	defer c.Close()
	var wg sync.WaitGroup
	got := make([]string, 20)
	start := time.Now()
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sleep := time.Duration(20-i) * 5 * time.Millisecond
			if err := c.Call(context.Background(), "echo", echoArgs{Text: strings.Repeat("a", i+1), Sleep: sleep}, &got[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, g := range got {
		if g != strings.Repeat("A", i+1) {
			t.Errorf("call %d got %q", i, g)
		}
	}
	if el := time.Since(start); el > 90*time.Millisecond*5 {
		t.Errorf("20 concurrent calls took %v: they ran one after another", el)
	}
}

func TestCancel(t *testing.T) {
	cancelled := make(chan string, 1)
	c, _ := pipePair(t, testHandlers(cancelled))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, "echo", echoArgs{Text: "slow", Sleep: time.Minute}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled call = %v", err)
	}
	select {
	case got := <-cancelled:
		if got != "slow" {
			t.Errorf("agent cancelled %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("the agent never saw the cancel")
	}
}

func TestServeBadLine(t *testing.T) {
	var out strings.Builder
	in := strings.NewReader("not json\n" + `{"id":3,"op":"echo","args":{"text":"ok"}}` + "\n")
	if err := Serve(context.Background(), in, &out, testHandlers(make(chan string, 1))); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("answers: %q", lines)
	}
	var bad, good Response
	_ = json.Unmarshal([]byte(lines[0]), &bad)
	_ = json.Unmarshal([]byte(lines[1]), &good)
	if !strings.Contains(bad.Error, "bad request line") || good.ID != 3 || string(good.Result) != `"OK"` {
		t.Errorf("answers: %+v %+v", bad, good)
	}
}

// FuzzServe feeds arbitrary request streams to the agent's protocol loop:
// it must never panic, and every line it writes must be a Response.
func FuzzServe(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"echo","args":{"text":"hi"}}` + "\n"))
	f.Add([]byte(`{"id":2,"op":"fail"}` + "\n" + `{"op":"cancel","args":{"id":2}}` + "\n"))
	f.Add([]byte("not json\n{}\n{\"id\":-1}\n"))
	f.Add([]byte(`{"id":3,"op":"echo","args":[1,2]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out strings.Builder
		h := testHandlers(make(chan string, 64))
		// No handler may wait on the input: a fuzzed sleep would hang.
		h["echo"] = Typed(func(ctx context.Context, a echoArgs) (string, error) { return strings.ToUpper(a.Text), nil })
		_ = Serve(context.Background(), strings.NewReader(string(in)), &out, h)
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l == "" {
				continue
			}
			var r Response
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("agent wrote a line that is not a Response: %q: %v", l, err)
			}
		}
	})
}
