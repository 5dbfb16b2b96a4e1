package lxdprov

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// A cell's first container is made ahead by the cell before it. When a
// cell lab-XXXXXX-N of the run starts off a cluster, the provider
// prepares the environment of lab-XXXXXX-(N+1) on the same base: as many
// slots (PREFIX-aK, slots.go) as the run's largest closed cell had nodes
// (one while none has closed), copied and started one after another. That
// cell, when it comes to this provider with the same image, takes the
// environment and its nodes do not wait for LXD's copies and starts. It is a guess:
// the next cell may boot another image, or run on another provider; then
// the guessed environment is closed (its container deleted in the
// background) when that cell or a later one starts, or at Shutdown, and
// the provider guesses only while its guesses were taken at least as
// often as missed.
type nextCells struct {
	envs         map[string]*env // cell prefix -> its environment made ahead
	started      map[string]bool // cell prefixes seen by NewImageEnv
	hits, misses int
}

// cellIndex splits a cell prefix lab-XXXXXX-N into the run and N.
func cellIndex(prefix string) (run string, n int, ok bool) {
	i := strings.LastIndex(prefix, "-")
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(prefix[i+1:])
	return prefix[:i], n, err == nil && n >= 0
}

// adoptNext returns the environment made ahead for the cell prefix when
// it copies the same base (src), and closes those made for it or for
// earlier cells that it cannot use (misses).
func (p *Provider) adoptNext(prefix, src string) *env {
	p.mu.Lock()
	defer p.mu.Unlock()
	nc := &p.next
	if nc.started == nil {
		nc.started = map[string]bool{}
	}
	nc.started[prefix] = true
	run, idx, ok := cellIndex(prefix)
	var found *env
	for pre, e := range nc.envs {
		r, i, _ := cellIndex(pre)
		switch {
		case pre == prefix && e.source == src:
			found = e
			nc.hits++
		case pre == prefix || ok && r == run && i < idx:
			nc.misses++
			_ = e.Close(context.Background()) // in the background (e.later)
		default:
			continue
		}
		delete(nc.envs, pre)
	}
	return found
}

// guessNext makes the environment of the cell after e's (same base, same
// daemon) with its first container, unless that cell has started, one is
// made already, or guesses were missed more often than taken.
func (p *Provider) guessNext(e *env) {
	run, idx, ok := cellIndex(e.prefix)
	if !ok || e.member != "" {
		return
	}
	next := fmt.Sprintf("%s-%d", run, idx+1)
	p.mu.Lock()
	defer p.mu.Unlock()
	nc := &p.next
	if nc.started[next] || nc.envs[next] != nil || nc.misses > nc.hits {
		return
	}
	if nc.envs == nil {
		nc.envs = map[string]*env{}
	}
	ne := &env{c: e.c, root: e.root, image: e.image, fingerprint: e.fingerprint, members: e.members,
		release: func() {}, remote: e.remote, prefix: next, source: e.source, local: e.local,
		nsenter: e.nsenter, userspace: e.userspace, later: e.later, sizes: e.sizes, guessed: true,
		nodes: map[string]*ctNode{}, networks: map[string]string{}}
	ne.prepCtx, ne.prepCancel = context.WithCancel(context.Background())
	ne.mu.Lock()
	for i := 0; i < max(1, e.sizes.most()); i++ {
		ne.ahead = append(ne.ahead, ne.spawnSlotLocked())
	}
	ne.mu.Unlock()
	nc.envs[next] = ne
}

// dropNext closes the environments made ahead that no cell took.
func (p *Provider) dropNext() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pre, e := range p.next.envs {
		_ = e.Close(context.Background()) // in the background (e.later)
		delete(p.next.envs, pre)
	}
}
