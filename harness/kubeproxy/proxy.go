package kubeproxy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"lab/harness/execx"
)

// Proxy is a simulated kube-proxy for one node and one IP family: it applies
// the Service rules with the real iptables-restore of the node's variant and
// re-syncs when its canary chain disappears.
type Proxy struct {
	// Runner runs commands on the node (its environment selects the variant
	// and any kernel profile).
	Runner execx.Runner
	// IPv6 selects ip6tables-restore instead of iptables-restore.
	IPv6   bool
	Config Config

	mu       sync.Mutex
	services []Service
	syncs    int
	lastErr  error
	stop     context.CancelFunc
	done     chan struct{}
}

func (p *Proxy) cmd(base string) string {
	if p.IPv6 {
		return "ip6" + strings.TrimPrefix(base, "ip") // iptables-restore -> ip6tables-restore
	}
	return base
}

// SetServices replaces the services and syncs once.
func (p *Proxy) SetServices(ctx context.Context, svcs []Service) error {
	p.mu.Lock()
	p.services = append([]Service(nil), svcs...)
	p.mu.Unlock()
	return p.Sync(ctx)
}

// Sync writes the full rule set as kube-proxy's syncProxyRules does: the
// jumps from the built-in chains, then one iptables-restore --noflush of the
// nat and filter payload. The error carries iptables' own output (e.g. the
// kernel's "missing kernel module?" warning).
func (p *Proxy) Sync(ctx context.Context) error {
	p.mu.Lock()
	svcs := p.services
	p.mu.Unlock()
	err := p.sync(ctx, svcs)
	p.mu.Lock()
	p.syncs++
	p.lastErr = err
	p.mu.Unlock()
	return err
}

func (p *Proxy) sync(ctx context.Context, svcs []Service) error {
	payload := Restore(p.Config, svcs)
	// The chains must exist before jumps to them can be inserted.
	if _, err := p.Runner.Run(ctx, execx.Cmd{Argv: []string{p.cmd("iptables-restore"), "--noflush"}, Stdin: []byte(payload)}); err != nil {
		return err
	}
	for _, j := range Jumps {
		args := append([]string{"-t", j[0]}, j[2:]...)
		check := append([]string{p.cmd("iptables"), "-C", j[1]}, args[0:]...)
		if _, err := p.Runner.Run(ctx, execx.Cmd{Argv: check}); err == nil {
			continue
		}
		ins := append([]string{p.cmd("iptables"), "-I", j[1]}, args...)
		if _, err := p.Runner.Run(ctx, execx.Cmd{Argv: ins}); err != nil {
			return err
		}
	}
	_, err := p.Runner.Run(ctx, execx.Cmd{Argv: []string{p.cmd("iptables"), "-t", "mangle", "-N", CanaryChain}})
	if err != nil && !strings.Contains(err.Error(), "exists") {
		return err
	}
	return nil
}

// CanaryPresent reports whether the canary chain still exists in mangle.
func (p *Proxy) CanaryPresent(ctx context.Context) bool {
	_, err := p.Runner.Run(ctx, execx.Cmd{Argv: []string{p.cmd("iptables"), "-t", "mangle", "-S", CanaryChain}})
	return err == nil
}

// Watch starts kube-proxy's canary monitor: every interval it checks the
// canary chain and re-syncs when it is gone. Stop ends it.
func (p *Proxy) Watch(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.stop, p.done = cancel, make(chan struct{})
	done := p.done
	p.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !p.CanaryPresent(ctx) && ctx.Err() == nil {
					_ = p.Sync(ctx)
				}
			}
		}
	}()
}

// WaitSynced waits until the canary exists again (a re-sync happened after a
// flush) or ctx ends.
func (p *Proxy) WaitSynced(ctx context.Context) error {
	for {
		if p.CanaryPresent(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-proxy did not re-sync: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the monitor, if running.
func (p *Proxy) Stop() {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Syncs returns how many syncs ran and the last one's error.
func (p *Proxy) Syncs() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.syncs, p.lastErr
}
