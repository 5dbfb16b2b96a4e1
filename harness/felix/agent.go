package felix

import (
	"context"
	"fmt"
	"strings"
	"time"

	"lab/harness/execx"
	"lab/harness/iptables"
)

// Agent applies Felix's rules on one node, as Felix's iptables dataplane
// does: it reads each table with iptables-save, then writes it with one
// `iptables-restore --noflush` of the table's payload. Felix retries a
// failed table forever; the agent retries Attempts times, so a failure that
// persists (a missing kernel extension) leaves the family without its rules.
type Agent struct {
	// Runner runs commands on the node (its environment holds the kernel
	// profile, if any).
	Runner execx.Runner
	// Backend is Felix's iptables backend: legacy or nft
	// (FELIX_IPTABLESBACKEND).
	Backend string
	// Attempts bounds the tries per table (default 3).
	Attempts int
	// Backoff is the pause between tries (default 100ms).
	Backoff time.Duration
}

// Attempt is one iptables-restore Felix ran.
type Attempt struct {
	Table  string
	Argv   []string
	Input  string
	Output string
	Err    error
}

func (a *Agent) bin(base string, ipv6 bool) string {
	if ipv6 {
		base = "ip6" + strings.TrimPrefix(base, "ip")
	}
	return iptables.Binary(base, a.Backend)
}

// Apply writes every table of cfg. It returns every attempt made and, if a
// table still failed after its last attempt, an error naming the first such
// table and carrying iptables' own output (e.g. the kernel's "missing kernel
// module?" warning), with a count of the other failed tables.
func (a *Agent) Apply(ctx context.Context, cfg Config) ([]Attempt, error) {
	if a.Backend != "legacy" && a.Backend != "nft" {
		return nil, fmt.Errorf("felix iptables backend %q is not legacy or nft", a.Backend)
	}
	tries, pause := a.Attempts, a.Backoff
	if tries <= 0 {
		tries = 3
	}
	if pause <= 0 {
		pause = 100 * time.Millisecond
	}
	var all []Attempt
	var first error
	failed := 0
	for _, t := range Tables(cfg) {
		var err error
		for i := 0; i < tries; i++ {
			if i > 0 {
				select {
				case <-ctx.Done():
					return all, ctx.Err()
				case <-time.After(pause):
				}
			}
			var at Attempt
			at, err = a.applyTable(ctx, t, cfg.IPv6)
			all = append(all, at)
			if err == nil {
				break
			}
		}
		if err != nil {
			failed++
			if first == nil {
				first = fmt.Errorf("felix %s table: %w", t.Name, err)
			}
		}
	}
	if failed > 1 {
		return all, fmt.Errorf("%w (and %d more tables failed)", first, failed-1)
	}
	return all, first
}

func (a *Agent) applyTable(ctx context.Context, t Table, ipv6 bool) (Attempt, error) {
	at := Attempt{Table: t.Name}
	save := a.bin("iptables-save", ipv6)
	out, err := execx.Output(ctx, a.Runner, save, "-t", t.Name)
	if err != nil {
		at.Err = err
		return at, err
	}
	d, err := iptables.Parse(out)
	if err != nil {
		at.Err = fmt.Errorf("parse %s output: %w", save, err)
		return at, at.Err
	}
	present := func(chain, hash string) bool {
		c := d.Chain(t.Name, chain)
		if c == nil {
			return false
		}
		for _, r := range c.Rules {
			if strings.Contains(r.Raw, `"cali:`+hash+`"`) {
				return true
			}
		}
		return false
	}
	at.Argv = []string{a.bin("iptables-restore", ipv6), "--noflush", "--verbose", "--wait", "10"}
	at.Input = t.Render(present)
	res, err := a.Runner.Run(ctx, execx.Cmd{Argv: at.Argv, Stdin: []byte(at.Input)})
	at.Output = strings.TrimSpace(string(res.Stderr) + string(res.Stdout))
	at.Err = err
	return at, err
}
