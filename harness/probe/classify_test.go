package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"
)

// timeoutErr is a net.Error that says it timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestClassify pins each error kind to its outcome: a dead server
// (refused) or an unknown error must never read as a timeout, which is a
// reported failure's signature.
func TestClassify(t *testing.T) {
	op := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: err}}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{op(syscall.ECONNREFUSED), Refused},
		{fmt.Errorf("Get \"http://x\": %w", op(syscall.ECONNREFUSED)), Refused},
		{op(syscall.EHOSTUNREACH), Unreachable},
		{op(syscall.ENETUNREACH), Unreachable},
		{op(syscall.ECONNRESET), Reset},
		{io.EOF, Reset},
		{context.DeadlineExceeded, Timeout},
		{fmt.Errorf("wrapped: %w", os.ErrDeadlineExceeded), Timeout},
		{&net.OpError{Op: "dial", Err: timeoutErr{}}, Timeout},
		{errors.New("something else entirely"), "error"},
		{op(syscall.EPERM), "error"},
		{op(syscall.EACCES), "error"},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestHTTPOutcomesForReal probes real sockets in this process's network
// namespace: a serving server (200), a closed port (refused, quickly) and
// a server that answers 502.
func TestHTTPOutcomesForReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to enter a network namespace")
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }))
	defer bad.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	self := "/proc/self/ns/net"
	for url, want := range map[string]string{ok.URL: "200", bad.URL: "502", closed: Refused} {
		r := HTTP(context.Background(), self, url, 2*time.Second)
		if r.Outcome != want {
			t.Errorf("HTTP(%s) = %q (%s), want %q", url, r.Outcome, r.Detail, want)
		}
	}
	b := HTTPBatch(context.Background(), self, closed, 5, 2, time.Second)
	if b.Outcomes[Refused] != 5 || b.Failures != 5 || b.FailureRate() != 100 {
		t.Errorf("batch against a closed port: %+v", b)
	}
}
