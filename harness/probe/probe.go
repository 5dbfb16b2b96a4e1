// Package probe measures what the network does from inside a namespace: HTTP
// requests and TCP connects, classified into the outcomes a maintainer reads
// in a report (an HTTP status, timeout, refused, unreachable, reset).
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"lab/harness/netns"
)

// Outcomes other than an HTTP status code.
const (
	Timeout     = "timeout"
	Refused     = "refused"
	Unreachable = "unreachable"
	Reset       = "reset"
)

// Result is one probe's outcome.
type Result struct {
	// Outcome is the HTTP status code ("200", "502") or one of the constants.
	Outcome string
	// Detail is the underlying error or the first bytes of the body.
	Detail  string
	Elapsed time.Duration
}

// Dialer returns a DialContext function whose sockets are created inside the
// namespace at path (a socket keeps the namespace it was created in).
func Dialer(path string, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := netns.Do(path, func() error {
			d := net.Dialer{Timeout: timeout}
			var derr error
			c, derr = d.DialContext(ctx, network, addr)
			return derr
		})
		return c, err
	}
}

// HTTP sends GET url from the namespace at path and classifies the outcome.
func HTTP(ctx context.Context, path, url string, timeout time.Duration) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{DialContext: Dialer(path, timeout), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{Outcome: "error", Detail: err.Error()}
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return Result{Outcome: Classify(err), Detail: err.Error(), Elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return Result{Outcome: fmt.Sprint(resp.StatusCode), Detail: string(body), Elapsed: time.Since(start)}
}

// Classify maps a network error to an outcome name.
func Classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Unreachable
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return Reset
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout
	case errors.As(err, &ne) && ne.Timeout():
		return Timeout
	}
	return "error"
}
