package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// stopSignals end lab or its terminal: each one tears down (INT from
// Ctrl-C, TERM from kill or systemd, HUP when the terminal goes away, QUIT
// from Ctrl-\).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// interrupts turns the first stop signal into a cancelled context (running
// cells tear down) and a second one into an exit that says what it
// abandons. Commands that create nothing (graceful false) exit at once.
type interrupts struct {
	stderr   io.Writer
	exit     func(code int)
	mu       sync.Mutex
	abandons func() string // what a second signal leaves behind; nil: nothing
}

type interruptsKey struct{}

// withInterrupts returns ctx cancelled by the first stop signal and the
// handler; stop releases the signals.
func withInterrupts(parent context.Context, stderr io.Writer, graceful bool) (context.Context, *interrupts, func()) {
	ctx, cancel := context.WithCancel(parent)
	in := &interrupts{stderr: stderr, exit: os.Exit}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				n++
				in.handle(sig, n, graceful, cancel)
			}
		}
	}()
	stop := func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
	return context.WithValue(ctx, interruptsKey{}, in), in, stop
}

// handle reacts to the nth stop signal.
func (in *interrupts) handle(sig os.Signal, n int, graceful bool, cancel func()) {
	code := 128 + int(sig.(syscall.Signal))
	if !graceful {
		fmt.Fprintf(in.stderr, "lab: %v: stopped\n", sig)
		in.exit(code)
		return
	}
	if n == 1 {
		fmt.Fprintf(in.stderr, "\nlab: %v: stopping; running cells tear down and are not stored (signal again to abandon their teardown)\n", sig)
		cancel()
		return
	}
	in.mu.Lock()
	what := "nothing is running"
	if in.abandons != nil {
		what = in.abandons()
	}
	in.mu.Unlock()
	fmt.Fprintf(in.stderr, "lab: second %v: abandoning teardown: %s\n", sig, what)
	in.exit(code)
}

// setAbandons registers what a second signal would abandon.
func setAbandons(ctx context.Context, f func() string) {
	if in, ok := ctx.Value(interruptsKey{}).(*interrupts); ok {
		in.mu.Lock()
		in.abandons = f
		in.mu.Unlock()
	}
}
