package scenarios

import (
	"errors"
	"fmt"
)

// A background job is the rest of a step that models a daemon: the step
// returns once the node's state is what later steps will see, and the
// daemon's remaining work (Felix's retries, its panic and restart) goes on
// beside the following steps, as the real daemon's would. Reading any
// observation waits for every job first, so an expectation never sees a
// job half done; the runner waits for them before the cell's facts and
// teardown.
type job struct {
	key, what string
	done      chan struct{}
	err       error
}

// background runs fn beside the following steps. key groups jobs that must
// not overlap (one Felix per node): see settle.
func (w *World) background(key, what string, fn func() error) {
	j := &job{key: key, what: what, done: make(chan struct{})}
	w.mu.Lock()
	w.jobs = append(w.jobs, j)
	w.mu.Unlock()
	go func() {
		defer close(j.done)
		j.err = fn()
	}()
}

// settle waits for the background jobs with key ("" waits for all) and
// returns their errors, each naming its job. A job's error is reported
// once: the first settle that sees it finished takes it off the list.
func (w *World) settle(key string) error {
	w.mu.Lock()
	var wait, keep []*job
	for _, j := range w.jobs {
		if key == "" || j.key == key {
			wait = append(wait, j)
		} else {
			keep = append(keep, j)
		}
	}
	w.jobs = keep
	w.mu.Unlock()
	var errs []error
	for _, j := range wait {
		<-j.done
		if j.err != nil {
			errs = append(errs, fmt.Errorf("%s (in the background of its step): %w", j.what, j.err))
		}
	}
	return errors.Join(errs...)
}

// Settle waits for every background job and returns their errors: the
// runner calls it when the scenario's steps are over.
func (w *World) Settle() error { return w.settle("") }
