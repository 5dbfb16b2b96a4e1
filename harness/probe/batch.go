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
	if concurrency < 1 {
		concurrency = 1
	}
	start := time.Now()
	b := Batch{N: n, Outcomes: map[string]int{}, Details: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
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
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := HTTP(ctx, path, url, timeout)
			mu.Lock()
			defer mu.Unlock()
			b.Outcomes[r.Outcome]++
			if r.Outcome == "200" {
				b.SlowestOK = max(b.SlowestOK, r.Elapsed)
				return
			}
			b.Failures++
			if _, ok := b.Details[r.Outcome]; !ok {
				b.Details[r.Outcome] = r.Detail
			}
		}()
	}
	wg.Wait()
	b.Elapsed = time.Since(start)
	return b
}
