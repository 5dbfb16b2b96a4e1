package lxdprov

import (
	"context"
	"fmt"
	"sync"
	"time"

	"lab/harness/execx"

	"github.com/canonical/lxd/shared/api"
)

// A slot is a node container made ahead of the node that takes it: copied
// from the base snapshot, started, its init up. A container cell keeps one
// slot ahead (from NewImageEnv on, and again at every AddNode), so adding
// a node does not wait for LXD's copy and start: the cell's next node is
// prepared while the steps set up the one before. The last slot of a cell
// is never taken (cellSizes keeps that rare); it goes with the cell.
// Slots are named by their index (PREFIX-nK; PREFIX-aK when made by the
// cell before, nextcell.go), not by the node that takes them: LXD's
// rename of a container costs about what the copy saves (measured; see README). A
// node's name is its hostname and, once connected, its instance's
// user.lab.node (Shell finds it by that).
type slot struct {
	inst string
	done chan struct{} // closed when prepared or failed
	pid  int           // the container's init (commands through nsenter)
	err  error
}

// spawnSlotLocked registers the next slot's instance (Close removes it
// whatever happens) and prepares it in the background once the slot
// before it is prepared. e.mu is held.
func (e *env) spawnSlotLocked() *slot {
	tag := "n"
	if e.guessed {
		tag = "a" // never the name of a container of the cell's own environment (a missed guess is still being deleted)
	}
	s := &slot{inst: fmt.Sprintf("%s-%s%d", e.prefix, tag, len(e.slots)), done: make(chan struct{})}
	var prev *slot
	if len(e.slots) > 0 {
		prev = e.slots[len(e.slots)-1]
	}
	e.slots = append(e.slots, s)
	e.instances = append(e.instances, s.inst)
	go func() {
		defer close(s.done)
		if prev != nil {
			<-prev.done // one at a time: the node waiting for prev gets it sooner
		}
		s.pid, s.err = e.prepare(e.prepCtx, s.inst)
	}()
	return s
}

// prepare copies the base snapshot into inst, starts it and waits until
// its init has set the node up (/run/.lab-node); it returns the init's
// host pid when commands go through nsenter.
func (e *env) prepare(ctx context.Context, inst string) (int, error) {
	if err := e.copyBase(ctx, inst); err != nil {
		return 0, err
	}
	op, err := e.c.UpdateInstanceState(inst, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
	if err == nil {
		err = waitOp(ctx, op)
	}
	if err != nil {
		return 0, fmt.Errorf("lxd: start %s: %w", inst, err)
	}
	n := &ctNode{c: e.c, name: inst, instance: inst}
	if e.nsenter {
		st, _, err := e.c.GetInstanceState(inst)
		if err != nil || st.Pid <= 0 {
			return 0, fmt.Errorf("lxd: init pid of %s: %v", inst, err)
		}
		n.pid = int(st.Pid)
	}
	ready := execx.Cmd{Argv: []string{"test", "-e", "/run/.lab-node"}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := n.Run(ctx, ready)
		if err == nil {
			return n.pid, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return 0, fmt.Errorf("lxd: %s did not come up: %w", inst, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// takeSlot returns the first slot ahead (made now if there is none) for
// node name and, when none is left ahead, starts preparing the next one.
func (e *env) takeSlot(name string) (*slot, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("lxd: environment already closed")
	}
	if _, dup := e.nodes[name]; dup {
		return nil, fmt.Errorf("node %q already exists in this cell", name)
	}
	var s *slot
	if len(e.ahead) > 0 {
		s, e.ahead = e.ahead[0], e.ahead[1:]
	} else {
		s = e.spawnSlotLocked()
	}
	if most := e.sizes.most(); len(e.ahead) == 0 && (most == 0 || len(e.nodes)+1 < most) {
		e.ahead = append(e.ahead, e.spawnSlotLocked())
	}
	return s, nil
}

// cellSizes remembers the most nodes a closed cell of the run had: a cell
// makes a container ahead for a next node only while it has fewer (any
// number while no cell has closed). The benchmarked two-node cell then
// makes no third container that would compete with its own steps for the
// CPU and the daemon; a run mixing sizes makes one container too many in
// its smaller cells.
type cellSizes struct {
	mu  sync.Mutex
	max int
}

func (c *cellSizes) most() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}

func (c *cellSizes) saw(n int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = max(c.max, n)
}

// endSlots stops the slots' preparation and waits until none is under
// way (an instance LXD is still copying or starting cannot be deleted).
func (e *env) endSlots(slots []*slot) {
	if e.prepCancel != nil {
		e.prepCancel()
	}
	for _, s := range slots {
		<-s.done
	}
}
