package probe

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Batch is the outcome of many fresh HTTP connections to one URL.
type Batch struct {
	// N is how many requests were sent, each on a new TCP connection.
	N int
	// Outcomes counts the requests per outcome ("200", "timeout", ...).
	Outcomes map[string]int
	// Failures counts the requests whose outcome was not "200".
	Failures int
	// SlowestOK is the longest time a successful request took: far below
	// the timeout means the timeout did not cut slow successes short.
	SlowestOK time.Duration
	// Elapsed is the wall time of the whole batch.
	Elapsed time.Duration
	// Details holds one error text per failing outcome, for evidence.
	Details map[string]string
	// DecidedBy says, when the batch ended on a positive signal instead
	// of waiting its last connections out to the timeout, which signal
	// (see Decision); DecidedAfter is when, from the batch's start.
	DecidedBy    string        `json:",omitempty"`
	DecidedAfter time.Duration `json:",omitempty"`
}

// Decided is the outcome of the connections a Decision ended: they had
// no answer, and a signal outside the client (the gateway's drop record)
// says none will come before the timeout.
const Decided = "dropped"

// Decision ends a batch early on a positive signal: once every request
// was sent and exactly Unanswered of them are still waiting for an answer,
// those are the ones the signal accounts for; they end now with outcome
// Decided and Reason as detail instead of waiting out the timeout. While
// more are waiting (a slow success), the batch goes on; when the signal was
// wrong, the timeout still ends them as before.
type Decision struct {
	Unanswered int
	Reason     string
}

// FailureRate returns the share of failed requests in percent.
func (b Batch) FailureRate() float64 {
	if b.N == 0 {
		return 0
	}
	return 100 * float64(b.Failures) / float64(b.N)
}

// Kinds returns the outcomes sorted by name.
func (b Batch) Kinds() []string {
	out := make([]string, 0, len(b.Outcomes))
	for k := range b.Outcomes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// HTTPBatch sends n GET requests to url from the namespace at path, each on
// a fresh TCP connection (so each gets a new source port), at most
// concurrency at a time, each bounded by timeout.
func HTTPBatch(ctx context.Context, path, url string, n, concurrency int, timeout time.Duration) Batch {
	return HTTPBatchDecided(ctx, path, url, n, concurrency, timeout, nil)
}

// HTTPBatchDecided is HTTPBatch that also ends on the decisions it
// receives (see Decision); a nil channel never decides.
func HTTPBatchDecided(ctx context.Context, path, url string, n, concurrency int, timeout time.Duration, decisions <-chan Decision) Batch {
	return runBatch(ctx, n, concurrency, decisions, "200", func(c context.Context) Result { return HTTP(c, path, url, timeout) })
}

// runBatch runs try n times, at most concurrency at a time, and counts
// the outcomes (success is the one that is not a failure); a decision ends
// the waiting tries as HTTPBatchDecided says (a try must return "error"
// when its context is cancelled).
func runBatch(ctx context.Context, n, concurrency int, decisions <-chan Decision, success string, try func(context.Context) Result) Batch {
	if concurrency < 1 {
		concurrency = 1
	}
	start := time.Now()
	b := Batch{N: n, Outcomes: map[string]int{}, Details: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	// conns is the requests' context: a decision cancels it.
	conns, cancelConns := context.WithCancel(ctx)
	defer cancelConns()
	var dec *Decision
	pending, allSent, decided, timedOut := 0, false, false, false
	// settle ends the waiting requests when a decision accounts for all
	// of them; once one has timed out, the timeout decides the rest (the
	// count of waiting requests then falls past the decision's). Call it
	// with mu held.
	settle := func() {
		if dec != nil && !decided && !timedOut && allSent && pending == dec.Unanswered && pending > 0 {
			decided = true
			b.DecidedBy, b.DecidedAfter = dec.Reason, time.Since(start)
			cancelConns()
		}
	}
	watchDone := make(chan struct{})
	defer close(watchDone)
	if decisions != nil {
		go func() {
			for {
				select {
				case d := <-decisions:
					mu.Lock()
					dec = &d
					settle()
					mu.Unlock()
				case <-watchDone:
					return
				}
			}
		}()
	}
	sem := make(chan struct{}, concurrency)
send:
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			mu.Lock()
			b.Outcomes["cancelled"] += n - i
			b.Failures += n - i
			mu.Unlock()
			break send
		}
		wg.Add(1)
		mu.Lock()
		pending++
		mu.Unlock()
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := try(conns)
			mu.Lock()
			defer mu.Unlock()
			pending--
			timedOut = timedOut || r.Outcome == Timeout
			// Only the requests the decision cancelled take its outcome.
			if decided && r.Outcome == "error" && ctx.Err() == nil {
				r.Outcome, r.Detail = Decided, dec.Reason
			}
			settle()
			b.Outcomes[r.Outcome]++
			if r.Outcome == success {
				b.SlowestOK = max(b.SlowestOK, r.Elapsed)
				return
			}
			b.Failures++
			if _, ok := b.Details[r.Outcome]; !ok {
				b.Details[r.Outcome] = r.Detail
			}
		}()
	}
	mu.Lock()
	allSent = true
	settle()
	mu.Unlock()
	wg.Wait()
	b.Elapsed = time.Since(start)
	return b
}
