package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"lab/harness/results"
	"lab/harness/runner"
)

// progress shows a run's progress: on a terminal a live view redrawn in
// place (done/total, running cells, failures so far, time left); otherwise
// (CI, a pipe) one plain line per finished cell.
type progress struct {
	w       io.Writer
	live    bool
	verbose bool
	total   int
	start   time.Time

	mu      sync.Mutex
	done    int
	bad     []string
	running map[string]time.Time
	lines   int // lines of the last live frame
	stop    chan struct{}
	stopped chan struct{}
}

// isTerminal reports whether f is a character device and CI is not set.
func isTerminal(f *os.File) bool {
	if os.Getenv("CI") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer, total int, live bool) *progress {
	p := &progress{w: w, live: live, total: total, start: time.Now(), running: map[string]time.Time{}}
	if live {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(p.stopped)
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.mu.Lock()
					p.draw()
					p.mu.Unlock()
				}
			}
		}()
	}
	return p
}

func label(j runner.Job) string {
	return fmt.Sprintf("%s:%d [%s/%s]#%d", j.Cell.Scenario, j.Cell.Line, j.Cell.Profile, j.Provider.Name(), j.Attempt)
}

// event is the runner's progress callback.
func (p *progress) event(e runner.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := label(e.Job)
	if e.Result == nil {
		p.running[l] = time.Now()
		return
	}
	delete(p.running, l)
	c := e.Result
	if c.Interrupted {
		if p.live {
			p.clear()
		}
		fmt.Fprintf(p.w, "[-/%d] %s interrupted: torn down, not stored (runs again on --resume)\n", p.total, l)
		if p.live {
			p.draw()
		}
		return
	}
	p.done++
	if results.Bad(c.Verdict) {
		p.bad = append(p.bad, fmt.Sprintf("%s: %s", l, c.Verdict))
	}
	if p.live {
		p.clear()
	}
	line := fmt.Sprintf("[%d/%d] %s %s (%s) %dms", p.done, p.total, l, c.Verdict, c.Status, c.DurationMS)
	if c.Error != "" && results.Bad(c.Verdict) {
		line += ": " + terminalSafe(strings.SplitN(c.Error, "\n", 2)[0], false)
	}
	fmt.Fprintln(p.w, line)
	for _, l := range strings.Split(c.Error, "\n") {
		if strings.HasPrefix(l, "kept for inspection:") {
			fmt.Fprintln(p.w, "      "+terminalSafe(l, false))
		}
	}
	if p.live {
		p.draw()
	}
}

// clear erases the last live frame.
func (p *progress) clear() {
	for ; p.lines > 0; p.lines-- {
		fmt.Fprint(p.w, "\x1b[1A\x1b[2K")
	}
}

func (p *progress) draw() {
	p.clear()
	el := time.Since(p.start)
	left := "?"
	if p.done > 0 {
		left = (time.Duration(float64(el) / float64(p.done) * float64(p.total-p.done))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "── %d/%d done · %d running · %d bad · %s elapsed · ~%s left\n", p.done, p.total, len(p.running), len(p.bad), el.Round(time.Second), left)
	p.lines = 1
	var names []string
	for n := range p.running {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(p.w, "   running %s (%s)\n", n, time.Since(p.running[n]).Round(100*time.Millisecond))
		p.lines++
	}
}

// finish stops the live view and erases it.
func (p *progress) finish() {
	if p.live {
		close(p.stop)
		<-p.stopped
		p.mu.Lock()
		p.clear()
		p.mu.Unlock()
	}
}

// abandons says what a second stop signal leaves behind: the running cells
// of run r, their namespaces and state, and how to remove them.
func (p *progress) abandons(r *runner.Run) string {
	p.mu.Lock()
	var names []string
	for n := range p.running {
		names = append(names, n)
	}
	p.mu.Unlock()
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Sprintf("run %s has no cell running, no namespace is left behind; the report is not rebuilt (`lab report` rebuilds it)", r.ID)
	}
	return fmt.Sprintf("%d running cell(s) of run %s (%s) stay up: namespaces %s-*, state %s; `lab clean` removes them, `lab matrix --resume %s` re-runs them",
		len(names), r.ID, strings.Join(names, ", "), r.Prefix, r.Dir, r.ID)
}
