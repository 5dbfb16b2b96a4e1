package lxdprov

import (
	"context"
	"errors"
	"sync"
)

// teardowns are the cells' deletions still under way: a container cell's
// Close hands its instance and network deletions over and returns (the
// cell's verdict does not wait for LXD to delete), and the run's Shutdown
// waits for all of them before it removes the bases, so nothing of a run
// outlives it.
type teardowns struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// spawn runs f in the background; its error is reported by wait.
func (t *teardowns) spawn(f func() error) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := f(); err != nil {
			t.mu.Lock()
			t.errs = append(t.errs, err)
			t.mu.Unlock()
		}
	}()
}

// wait waits until every teardown spawned so far has ended (or ctx ends)
// and returns, once, the errors of those that failed.
func (t *teardowns) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	err := errors.Join(t.errs...)
	t.errs = nil
	return err
}

// WaitTeardowns waits for the deletions of the cells already closed
// (env.Close returns before LXD has deleted a container cell's instances
// and networks) and returns their errors. Shutdown calls it first.
func (p *Provider) WaitTeardowns(ctx context.Context) error {
	return p.teardown.wait(ctx)
}
