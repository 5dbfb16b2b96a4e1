package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hangingServer answers every second request and holds the others open
// without an answer until the client gives up: a stand-in for connections
// whose answers a firewall drops.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			<-r.Context().Done()
			return
		}
		fmt.Fprintln(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

func TestBatchEndsOnDecision(t *testing.T) {
	url := hangingServer(t)
	dec := make(chan Decision, 1)
	dec <- Decision{Unanswered: 5, Reason: "test: 5 dropped"}
	b := HTTPBatchDecided(context.Background(), "", url, 10, 10, 20*time.Second, dec)
	if b.Outcomes["200"] != 5 || b.Outcomes[Decided] != 5 || b.Failures != 5 {
		t.Fatalf("outcomes %v, failures %d; want 5 x 200 and 5 x %s", b.Outcomes, b.Failures, Decided)
	}
	if b.DecidedBy != "test: 5 dropped" || b.Elapsed > 10*time.Second {
		t.Errorf("decided by %q after %s (elapsed %s): want the decision, well before the 20 s timeout", b.DecidedBy, b.DecidedAfter, b.Elapsed)
	}
	if !strings.Contains(b.Details[Decided], "5 dropped") {
		t.Errorf("details %v", b.Details)
	}
}

// A decision that does not account for every waiting request (a slow
// success, a wrong signal) ends nothing: the timeout still does.
func TestBatchIgnoresWrongDecision(t *testing.T) {
	url := hangingServer(t)
	dec := make(chan Decision, 1)
	dec <- Decision{Unanswered: 3, Reason: "wrong"}
	b := HTTPBatchDecided(context.Background(), "", url, 10, 10, 300*time.Millisecond, dec)
	if b.Outcomes[Timeout] != 5 || b.Outcomes[Decided] != 0 || b.DecidedBy != "" {
		t.Fatalf("outcomes %v, decided by %q: want 5 timeouts and no decision", b.Outcomes, b.DecidedBy)
	}
}

// halfUDPServer answers every second datagram (the others' answers are
// "dropped": never sent).
func halfUDPServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for i := 0; ; i++ {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if i%2 == 0 {
				_, _ = pc.WriteTo([]byte("ok"), from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestUDPBatchEndsOnDecision(t *testing.T) {
	addr := halfUDPServer(t)
	dec := make(chan Decision, 1)
	dec <- Decision{Unanswered: 5, Reason: "test: 5 answers dropped"}
	b := UDPBatchDecided(context.Background(), "", addr, 10, 10, 20*time.Second, dec)
	if b.Outcomes[Answered] != 5 || b.Outcomes[Decided] != 5 || b.Failures != 5 {
		t.Fatalf("outcomes %v, failures %d; want 5 x %s and 5 x %s", b.Outcomes, b.Failures, Answered, Decided)
	}
	if b.DecidedBy != "test: 5 answers dropped" || b.Elapsed > 10*time.Second {
		t.Errorf("decided by %q after %s (elapsed %s): want the decision, well before the 20 s timeout", b.DecidedBy, b.DecidedAfter, b.Elapsed)
	}
	// a wrong decision ends nothing: the timeout does
	dec <- Decision{Unanswered: 3, Reason: "wrong"}
	b = UDPBatchDecided(context.Background(), "", addr, 10, 10, 300*time.Millisecond, dec)
	if b.Outcomes[Timeout] != 5 || b.Outcomes[Decided] != 0 || b.DecidedBy != "" {
		t.Fatalf("outcomes %v, decided by %q: want 5 timeouts and no decision", b.Outcomes, b.DecidedBy)
	}
}
