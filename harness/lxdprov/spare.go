package lxdprov

import (
	"context"
	"fmt"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// A cell's nodes are copies of the run's base snapshot. Copying is most of
// a node's start on this machine (~1.1 s of ~2 s under load), so the
// environment keeps one stopped copy ready, named PREFIX--spareN: AddNode
// renames it to PREFIX-NODE (LXD renames stopped instances only) and
// starts it, and a copy for the next node begins at once. A cell of k
// nodes makes k+1 copies; the unused one goes with the cell.

// spare is a copy of the base being made or made.
type spare struct {
	name string
	done chan struct{}
	err  error
}

// waitOp waits for an LXD operation. When ctx ends first it still waits
// for the operation itself (LXD goes on with it: an instance being created
// or started cannot be deleted), then returns ctx's error.
func waitOp(ctx context.Context, op lxd.Operation) error {
	err := op.WaitContext(ctx)
	if ctx.Err() != nil {
		_ = op.Wait()
		return ctx.Err()
	}
	return err
}

// spareName is the instance name of the environment's nth spare ("--"
// cannot come out of instanceName for a node name without a leading dash).
func spareName(prefix string, n int) string { return fmt.Sprintf("%s--spare%d", prefix, n) }

// copyBase creates inst as a stopped copy of the base snapshot.
func (e *env) copyBase(ctx context.Context, inst string) error {
	op, err := e.c.CreateInstance(api.InstancesPost{
		Name: inst, Type: api.InstanceTypeContainer,
		Source: api.InstanceSource{Type: "copy", Source: e.source, InstanceOnly: true},
		InstancePut: api.InstancePut{
			Profiles:    []string{},
			Config:      map[string]string{"user.lab.prefix": e.prefix},
			Description: "lab cell " + e.prefix,
		},
	})
	if err == nil {
		err = waitOp(ctx, op)
	}
	if err != nil {
		return fmt.Errorf("lxd: create %s from %s: %w", inst, e.source, err)
	}
	return nil
}

// startSpare begins copying the next spare (e.mu held) when copies are
// cheap (not on a dir pool, where a copy is a whole rootfs). The copy runs
// to its end whatever happens to the cell: Close waits for it, then
// deletes it.
func (e *env) startSpare() {
	if !e.cheapCopy {
		return
	}
	sp := &spare{name: spareName(e.prefix, e.spares), done: make(chan struct{})}
	e.spares++
	e.spare = sp
	e.instances = append(e.instances, sp.name) // registered first: Close removes it
	e.copying.Add(1)
	go func() {
		defer e.copying.Done()
		defer close(sp.done)
		sp.err = e.copyBase(context.Background(), sp.name)
	}()
}

// takeSpare renames the ready spare to inst for node name and starts the
// next spare; false when there is none (closed) or it failed (the caller
// copies the base itself).
func (e *env) takeSpare(ctx context.Context, inst string) bool {
	e.mu.Lock()
	sp := e.spare
	if sp == nil || e.closed {
		e.mu.Unlock()
		return false
	}
	e.spare = nil
	e.mu.Unlock()
	select {
	case <-sp.done:
	case <-ctx.Done():
		e.mu.Lock()
		e.spare = sp // still Close's to wait for
		e.mu.Unlock()
		return false
	}
	e.mu.Lock()
	if !e.closed {
		e.startSpare()
	}
	e.mu.Unlock()
	if sp.err != nil {
		return false
	}
	op, err := e.c.RenameInstance(sp.name, api.InstancePost{Name: inst})
	if err == nil {
		err = waitOp(ctx, op)
	}
	return err == nil
}

// cheapCopies says whether the pool copies an instance by snapshot (every
// driver but dir, which copies the whole rootfs).
func cheapCopies(c lxd.InstanceServer, pool string) bool {
	p, _, err := c.GetStoragePool(pool)
	return err == nil && p.Driver != "dir"
}
