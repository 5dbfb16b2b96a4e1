package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	utiliptables "k8s.io/kubernetes/pkg/util/iptables"
)

// canaryChain is kube-proxy's kubeProxyCanaryChain.
const canaryChain = utiliptables.Chain("KUBE-PROXY-CANARY")

// status reports every sync attempt as a JSON line and holds the pause.
type status struct {
	mu     sync.Mutex
	out    io.Writer
	enc    *json.Encoder
	syncs  map[v1.IPFamily]int
	first  map[v1.IPFamily]error
	paused bool
	resume *sync.Cond
	// reloads counts the applied lines.
	reloads int
}

// appliedLine is printed after a reload handed the file's changes over.
type appliedLine struct {
	Applied int `json:"applied"`
}

// applied prints the next applied line.
func (s *status) applied() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloads++
	_ = s.enc.Encode(appliedLine{Applied: s.reloads})
}

// syncLine is one line on stdout.
type syncLine struct {
	Family string `json:"family"`
	Sync   int    `json:"sync"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

func newStatus(out io.Writer) *status {
	s := &status{out: out, enc: json.NewEncoder(out), syncs: map[v1.IPFamily]int{}, first: map[v1.IPFamily]error{}}
	s.resume = sync.NewCond(&s.mu)
	return s
}

// report records the outcome of one sync attempt of a family.
func (s *status) report(fam v1.IPFamily, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs[fam]++
	if _, ok := s.first[fam]; !ok {
		s.first[fam] = err
	}
	l := syncLine{Family: string(fam), Sync: s.syncs[fam], OK: err == nil}
	if err != nil {
		l.Error = err.Error()
	}
	_ = s.enc.Encode(l)
}

// firstErr is the first sync's error of every family that failed.
func (s *status) firstErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var msg string
	for fam, err := range s.first {
		if err != nil {
			msg += fmt.Sprintf("%s sync failed: %v\n", fam, err)
		}
	}
	if msg == "" {
		return nil
	}
	return fmt.Errorf("%s", msg[:len(msg)-1])
}

func (s *status) setPaused(p bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = p
	s.resume.Broadcast()
	klog.V(2).InfoS("lab: canary reaction", "paused", p)
}

func (s *status) waitUnpaused() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.paused {
		s.resume.Wait()
	}
}

// observed is the node's iptables (utiliptables.New) as the Proxier uses
// it, with every sync's outcome reported: a sync ends in RestoreAll, or
// earlier when ensuring a jump chain or rule fails.
type observed struct {
	utiliptables.Interface
	fam  v1.IPFamily
	st   *status
	dump string // when set, every restore's input is written to dump+"/restore-"+family
}

// RestoreAll runs iptables-restore and reports the sync.
func (o observed) RestoreAll(data []byte, flush utiliptables.FlushFlag, counters utiliptables.RestoreCountersFlag) error {
	if o.dump != "" {
		if err := os.WriteFile(filepath.Join(o.dump, "restore-"+string(o.fam)), data, 0o644); err != nil {
			klog.ErrorS(err, "lab: writing the restore input")
		}
	}
	err := o.Interface.RestoreAll(data, flush, counters)
	o.st.report(o.fam, err)
	return err
}

// EnsureChain reports a failure to create a jump chain (it ends the sync).
func (o observed) EnsureChain(table utiliptables.Table, chain utiliptables.Chain) (bool, error) {
	ok, err := o.Interface.EnsureChain(table, chain)
	if err != nil && chain != canaryChain {
		o.st.report(o.fam, err)
	}
	return ok, err
}

// EnsureRule reports a failure to add a jump rule (it ends the sync).
func (o observed) EnsureRule(pos utiliptables.RulePosition, table utiliptables.Table, chain utiliptables.Chain, args ...string) (bool, error) {
	ok, err := o.Interface.EnsureRule(pos, table, chain, args...)
	if err != nil {
		o.st.report(o.fam, err)
	}
	return ok, err
}

// Monitor is the real canary monitor; while paused, its reaction to a flush
// waits for "resume".
func (o observed) Monitor(canary utiliptables.Chain, tables []utiliptables.Table, reload func(), interval time.Duration, stop <-chan struct{}) {
	o.Interface.Monitor(canary, tables, func() {
		o.st.waitUnpaused()
		reload()
	}, interval, stop)
}

// logRecorder is the events.EventRecorder: events go to klog.
type logRecorder struct{}

// Eventf logs the event.
func (logRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	klog.InfoS("Event", "type", eventtype, "reason", reason, "action", action, "note", fmt.Sprintf(note, args...))
}
