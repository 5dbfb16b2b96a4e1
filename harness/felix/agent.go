package felix

import (
	"context"
	"fmt"
	"strings"
	"time"

	"lab/harness/execx"
	"lab/harness/iptables"
)

// Felix's retry policy, from Table.Apply in felix/iptables/table.go
// (v3.28.1): a failed table is retried 10 times, sleeping 1 ms before the
// first retry and twice as long before each next one (1023 ms in all), then
// Felix logs the table's iptables-save and panics.
const (
	Retries        = 10
	InitialBackoff = time.Millisecond
)

// PanicMessage is what Felix panics with when a table still fails.
const PanicMessage = "Failed to program iptables, giving up after retries"

// Agent runs the Felix stand-in on one node.
type Agent struct {
	// Runner runs commands on the node (its environment holds the kernel
	// profile, if any).
	Runner execx.Runner
	// Backend is FELIX_IPTABLESBACKEND: auto, legacy or nft ("" is auto,
	// Felix's default).
	Backend string
	// Starts bounds how often Felix is started while it keeps panicking:
	// calico-node's runit supervisor restarts it each time, forever; the lab
	// watches this many starts (default 2: the first and one restart).
	Starts int
	// Sleep waits out a retry backoff (default: real time).
	Sleep func(ctx context.Context, d time.Duration) error
	// Failed, when set, is called when an attempt first fails, before
	// Felix's first backoff: from then until a retry succeeds (if one
	// ever does) Felix changes nothing in the node (each retry restores
	// the same failing table, atomically, and fails again).
	Failed func()
}

// Attempt is one iptables-restore Felix ran.
type Attempt struct {
	Table  string
	Argv   []string
	Input  string
	Output string
	Err    error
	// Backoff is the pause Felix took after this attempt failed (0 after
	// a success or the last failure).
	Backoff time.Duration
}

// Start is one run of Felix from start to its first complete apply or its
// panic.
type Start struct {
	Attempts []Attempt
	// Panic is Felix's panic ("" when every table applied): PanicMessage
	// with the table and its last error.
	Panic string
	// Failed is the table that panicked and Err its last error.
	Failed string
	Err    error
	// Diag is the iptables-save -t TABLE Felix logs before panicking.
	Diag string
	// Slept is the backoff Felix slept; Took the start's wall time.
	Slept, Took time.Duration
}

// Report is what the stand-in did for one family on a node.
type Report struct {
	Detection Detection
	// Version is `<restore binary> --version` read in the node: the
	// iptables that produced every output below.
	Version string
	Starts  []Start
	// Ready is Felix's readiness for the family: it reports ready once a
	// start applied every table, so calico-node's readiness probe
	// (`calico-node -felix-ready`) fails while this is false.
	Ready bool
}

// Panics counts the starts that ended in a panic.
func (r *Report) Panics() int {
	n := 0
	for _, s := range r.Starts {
		if s.Panic != "" {
			n++
		}
	}
	return n
}

// Run detects the backend and starts Felix until a start applies every
// table of cfg or Starts starts have panicked. The error is for the lab's
// own failures (a bad backend, a cancelled context); Felix's are in the
// report.
func (a *Agent) Run(ctx context.Context, cfg Config) (*Report, error) {
	starts := a.Starts
	if starts <= 0 {
		starts = 2
	}
	backend := a.Backend
	if backend == "" {
		backend = "auto"
	}
	rep := &Report{}
	for i := 0; i < starts; i++ {
		det, err := DetectBackend(ctx, a.Runner, backend)
		if err != nil {
			return rep, err
		}
		rep.Detection = det
		restore := a.bin("iptables-restore", det.Backend, cfg.IPv6)
		if rep.Version == "" {
			v, err := execx.Output(ctx, a.Runner, restore, "--version")
			if err != nil {
				return rep, fmt.Errorf("felix: %w", err)
			}
			rep.Version = strings.TrimSpace(v)
		}
		s, err := a.start(ctx, det.Backend, cfg)
		rep.Starts = append(rep.Starts, s)
		if err != nil {
			return rep, err
		}
		if s.Panic == "" {
			rep.Ready = true
			break
		}
	}
	return rep, nil
}

func (a *Agent) bin(base, backend string, ipv6 bool) string {
	if ipv6 {
		base = "ip6" + strings.TrimPrefix(base, "ip")
	}
	return iptables.Binary(base, backend)
}

func (a *Agent) sleep(ctx context.Context, d time.Duration) error {
	if a.Sleep != nil {
		return a.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// start is one Felix run: each table in turn, retried as Table.Apply does,
// until one panics.
func (a *Agent) start(ctx context.Context, backend string, cfg Config) (s Start, err error) {
	t0 := time.Now()
	defer func() { s.Took = time.Since(t0) }()
	for _, t := range Tables(cfg) {
		backoff := InitialBackoff
		for retries := Retries; ; retries-- {
			at, err := a.applyTable(ctx, t, backend, cfg.IPv6)
			if ctx.Err() != nil {
				return s, ctx.Err()
			}
			if err == nil {
				s.Attempts = append(s.Attempts, at)
				break
			}
			if retries == 0 {
				s.Attempts = append(s.Attempts, at)
				s.Failed, s.Err = t.Name, err
				s.Diag, _ = execx.Output(ctx, a.Runner, a.bin("iptables-save", backend, cfg.IPv6), "-t", t.Name)
				s.Panic = fmt.Sprintf("%s (table %s, ipv6=%v): %v", PanicMessage, t.Name, cfg.IPv6, err)
				return s, nil
			}
			at.Backoff = backoff
			s.Attempts = append(s.Attempts, at)
			if a.Failed != nil {
				a.Failed()
				a.Failed = nil
			}
			if err := a.sleep(ctx, backoff); err != nil {
				return s, err
			}
			s.Slept += backoff
			backoff *= 2
		}
	}
	return s, nil
}

// applyTable is one try of applyUpdates: read the table (Felix reloads it
// after any failure, and the stand-in has no cache), then restore what
// differs with Felix's arguments (--wait 10 and a 50 ms probe interval:
// its IptablesLockTimeout 0 becomes 10 s, IptablesLockProbeInterval 50 ms).
func (a *Agent) applyTable(ctx context.Context, t Table, backend string, ipv6 bool) (Attempt, error) {
	at := Attempt{Table: t.Name}
	save := a.bin("iptables-save", backend, ipv6)
	out, err := execx.Output(ctx, a.Runner, save, "-t", t.Name)
	if err != nil {
		at.Err = err
		return at, err
	}
	dp, err := ReadDataplane(out, t.Name)
	if err != nil {
		at.Err = fmt.Errorf("parse %s output: %w", save, err)
		return at, at.Err
	}
	at.Input = t.Render(dp)
	if at.Input == "" {
		return at, nil
	}
	at.Argv = []string{a.bin("iptables-restore", backend, ipv6), "--noflush", "--verbose", "--wait", "10", "--wait-interval", "50000"}
	res, err := a.Runner.Run(ctx, execx.Cmd{Argv: at.Argv, Stdin: []byte(at.Input)})
	at.Output = strings.TrimSpace(string(res.Stderr) + string(res.Stdout))
	at.Err = err
	return at, err
}
