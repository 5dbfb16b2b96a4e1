package lxdprov

import (
	"context"
	"fmt"
	"sort"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// On a remote that is an LXD cluster (and names no fixed Target), every
// cell is placed on one member, LXD's own `target`: all its nodes are
// created there, from that member's copy of the run's base. The member is
// the one with the fewest live cells of this provider, ties broken round
// robin; nothing else is scheduled. The CLI runs -j cells per member (see
// Members), so with least-busy placement every member runs at most -j.

// placer is the provider's record of live cells per member.
type placer struct {
	loaded  bool
	members []string       // online members, sorted ("" when not a cluster)
	busy    map[string]int // live cells per member
	next    int            // round-robin start among equally busy members
}

// onlineMembers lists the cluster's online members (nil when the daemon is
// not clustered).
func onlineMembers(c lxd.InstanceServer) ([]string, error) {
	srv, _, err := c.GetServer()
	if err != nil {
		return nil, err
	}
	if !srv.Environment.ServerClustered {
		return nil, nil
	}
	ms, err := c.GetClusterMembers()
	if err != nil {
		return nil, fmt.Errorf("lxd: cluster members: %w", err)
	}
	var out []string
	for _, m := range ms {
		if m.Status == "Online" {
			out = append(out, m.ServerName)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("lxd: no cluster member is online (%d members)", len(ms))
	}
	return out, nil
}

// cluster returns the cluster's online members, read once per provider
// (nil when the daemon is not clustered).
func (p *Provider) cluster(ctx context.Context) ([]string, error) {
	c, err := p.client(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.place.loaded {
		ms, err := onlineMembers(c)
		if err != nil {
			return nil, err
		}
		p.place = placer{loaded: true, members: ms, busy: map[string]int{}}
	}
	return append([]string(nil), p.place.members...), nil
}

// Members returns the online cluster members the provider places cells
// on: nil when the daemon is not a cluster or the remote pins a Target.
func (p *Provider) Members(ctx context.Context) ([]string, error) {
	if p.opts.Remote.Target != "" {
		return nil, nil
	}
	return p.cluster(ctx)
}

// placeCell picks the member of a new cell and counts it busy until the
// returned release is called ("" and a no-op off a cluster); load is how
// many of the provider's cells run there with it (itself included).
func (p *Provider) placeCell(ctx context.Context) (member string, load int, release func(), err error) {
	ms, err := p.Members(ctx)
	if err != nil || len(ms) == 0 {
		return "", 0, func() {}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := &p.place
	best := ""
	for i := range pl.members {
		m := pl.members[(pl.next+i)%len(pl.members)]
		if best == "" || pl.busy[m] < pl.busy[best] {
			best = m
		}
	}
	pl.busy[best]++
	for i, m := range pl.members {
		if m == best {
			pl.next = i + 1
		}
	}
	done := false
	return best, pl.busy[best], func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !done {
			done = true
			pl.busy[best]--
		}
	}, nil
}

// createNetwork creates a managed bridge: on a cluster first pending on
// every member (LXD's rule for cluster networks), then cluster-wide with
// the configuration.
func createNetwork(c lxd.InstanceServer, members []string, post api.NetworksPost) error {
	for _, m := range members {
		if err := c.UseTarget(m).CreateNetwork(api.NetworksPost{Name: post.Name, Type: post.Type}); err != nil {
			return fmt.Errorf("on member %s: %w", m, err)
		}
	}
	return c.CreateNetwork(post)
}
