// Package timing records where a cell's time goes: every command run in a
// node, every agent call, every boot and daemon start, as spans with a kind
// and a name, and renders them as a breakdown for the cell's evidence
// (totals per kind and per operation, and the slowest spans).
package timing

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kinds of span.
const (
	Boot  = "boot"  // a provider node created and its agent started
	Exec  = "exec"  // a command run in a node (iptables-restore, nft, ...)
	Call  = "call"  // an agent call (CNI ADD, a probe, a batch, facts)
	Wait  = "wait"  // waiting for a daemon's signal (kube-proxy's sync, firewalld)
	Phase = "phase" // a part of the cell: environment, steps, facts, teardown
)

// Span is one timed operation.
type Span struct {
	Kind string
	// Name says what ran: the operation, the command's program.
	Name string
	// Host is the node it ran on ("" for the cell as a whole).
	Host  string
	Start time.Time
	Dur   time.Duration
}

// Recorder collects spans; it is safe for concurrent use. A nil Recorder
// records nothing.
type Recorder struct {
	mu    sync.Mutex
	start time.Time
	spans []Span
}

// New returns a recorder whose offsets count from now.
func New() *Recorder { return &Recorder{start: time.Now()} }

// Add records a span that started at start and ends now.
func (r *Recorder) Add(kind, name, host string, start time.Time) {
	if r == nil {
		return
	}
	d := time.Since(start)
	r.mu.Lock()
	r.spans = append(r.spans, Span{Kind: kind, Name: name, Host: host, Start: start, Dur: d})
	r.mu.Unlock()
}

// Spans returns a copy of the spans recorded so far, in start order.
func (r *Recorder) Spans() []Span {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	out := append([]Span(nil), r.spans...)
	r.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Total is the summed duration and count of a group of spans.
type Total struct {
	Kind, Name string
	N          int
	Sum, Max   time.Duration
}

// Totals groups the spans by kind and name, largest sum first.
func Totals(spans []Span) []Total {
	idx := map[[2]string]int{}
	var out []Total
	for _, s := range spans {
		k := [2]string{s.Kind, s.Name}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Total{Kind: s.Kind, Name: s.Name})
		}
		t := &out[i]
		t.N++
		t.Sum += s.Dur
		t.Max = max(t.Max, s.Dur)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Sum > out[j].Sum })
	return out
}

// Report renders the breakdown: the phases in order, then the totals per
// operation (spans overlap when work runs concurrently, so sums can exceed
// the wall time), then the slowest spans with their offset from the start.
func (r *Recorder) Report(slowest int) string {
	if r == nil {
		return ""
	}
	spans := r.Spans()
	var b strings.Builder
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
	b.WriteString("phases (wall):\n")
	for _, s := range spans {
		if s.Kind == Phase {
			fmt.Fprintf(&b, "  %-10s %8s  (from +%s)\n", s.Name, ms(s.Dur), ms(s.Start.Sub(r.start)))
		}
	}
	b.WriteString("per operation (count, sum, max; concurrent spans overlap):\n")
	for _, t := range Totals(spans) {
		if t.Kind == Phase {
			continue
		}
		fmt.Fprintf(&b, "  %-5s %-28s %4d %9s %9s\n", t.Kind, t.Name, t.N, ms(t.Sum), ms(t.Max))
	}
	var rest []Span
	for _, s := range spans {
		if s.Kind != Phase {
			rest = append(rest, s)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Dur > rest[j].Dur })
	if len(rest) > slowest {
		rest = rest[:slowest]
	}
	fmt.Fprintf(&b, "slowest %d:\n", len(rest))
	for _, s := range rest {
		fmt.Fprintf(&b, "  +%-8s %8s  %-5s %s on %s\n", ms(s.Start.Sub(r.start)), ms(s.Dur), s.Kind, s.Name, s.Host)
	}
	return b.String()
}
