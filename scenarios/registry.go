// Package scenarios is the step vocabulary: the Go step definitions feature
// files are written with, grouped by subject (topology, MicroK8s, iptables,
// probes, expectations). A maintainer writes a new feature from these steps
// with no Go code; `lab steps` prints them and features/README.md documents
// them (a test keeps the two in sync).
package scenarios

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"lab/harness/driver"
	"lab/harness/execx"
	"lab/harness/results"

	"github.com/cucumber/godog"
)

// Def is one step of the vocabulary.
type Def struct {
	// Subject groups steps in docs (topology, microk8s, iptables, probes, expectations).
	Subject string
	// Pattern is the regular expression godog matches step text against.
	Pattern string
	// Doc says what the step does and what it records.
	Doc string
	// Example is a step text that matches Pattern.
	Example string
	// Params type every capture group of Pattern, in order: `lab check`
	// parses each value with them before anything boots, and the step
	// function parses it with the same parser when it runs.
	Params []Param
	// cell, when set, checks the step against the cell's topology so far
	// at check time (see cellState) and returns a problem or "".
	cell func(s *cellState, args []string) string
	// iptablesProxy, when set, says whether the step (with these args)
	// relies on kube-proxy's iptables mode (its canary chain in the nat
	// table): `lab check` refuses it on a profile whose kube_proxy.mode is
	// nftables.
	iptablesProxy func(args []string) bool
	// kubeProxy says the step runs the profile's kube-proxy: `lab check`
	// refuses it on a profile whose Kubernetes release has no kube-proxy
	// module (harness/kubeproxy/k8s-vX.Y pinning that release).
	kubeProxy bool
	// bind returns the step function bound to a world.
	bind func(w *World) any
}

var registry []Def

// subjectOrder is the order subjects appear in docs; others follow by name.
var subjectOrder = []string{"topology", "microk8s", "iptables", "probes", "calico", "services", "netfilter", "ingress", "firewall", "egress", "dns", "expectations"}

// register adds a definition at init time; the vocabulary is static.
func register(d Def) { registry = append(registry, d) }

// Vocabulary returns every step definition, grouped by subject, in
// declaration order within a subject.
func Vocabulary() []Def {
	out := append([]Def(nil), registry...)
	rank := func(s string) int {
		for i, o := range subjectOrder {
			if o == s {
				return i
			}
		}
		return len(subjectOrder)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i].Subject), rank(out[j].Subject)
		if ri != rj {
			return ri < rj
		}
		return ri == len(subjectOrder) && out[i].Subject < out[j].Subject
	})
	return out
}

// World is the state of one running cell that steps act on.
type World struct {
	// D is the cell's driver: the only way steps reach nodes and pods.
	D   driver.Driver
	Log io.Writer

	mu   sync.Mutex
	cell *results.Cell
	// signatures are the failure signatures declared so far, and whether
	// each matched.
	signatures []bool
	// services are the Services declared so far, in order; nodePorts the
	// NodePort of each NodePort Service by name.
	services  []*service
	nodePorts map[string]int
	// felixDown are the nodes where a Felix step left calico-node not
	// ready (one Felix process serves both families).
	felixDown map[string]bool
	// dnsPods are the pods running a DNS server (port 53).
	dnsPods map[string]bool
	// proxyNodes are the nodes where kube-proxy runs.
	proxyNodes []string
	// jobs are the steps' background jobs not yet settled (background.go).
	jobs []*job
}

// NewWorld returns a world writing observations and evidence into cell.
func NewWorld(d driver.Driver, cell *results.Cell, log io.Writer) *World {
	if cell.Observations == nil {
		cell.Observations = map[string]any{}
	}
	return &World{D: d, cell: cell, Log: log, nodePorts: map[string]int{}, dnsPods: map[string]bool{}}
}

// Observe records a named observation.
func (w *World) Observe(name string, v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cell.Observations[name] = v
	fmt.Fprintf(w.Log, "    observed %s = %v\n", name, v)
}

// Observation returns a recorded observation, once every background job
// is done (a job's error fails the reading step).
func (w *World) Observation(name string) (any, error) {
	if err := w.settle(""); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.cell.Observations[name]
	if !ok {
		var have []string
		for k := range w.cell.Observations {
			have = append(have, k)
		}
		sort.Strings(have)
		return nil, fmt.Errorf("no observation %q recorded yet (recorded: %v); a step that measures it must come first", name, have)
	}
	return v, nil
}

// Evidence attaches raw material (a rule dump, command output) to the cell.
func (w *World) Evidence(name, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cell.Evidence = append(w.cell.Evidence, results.Evidence{Name: name, Text: text})
}

// RuleDump attaches a rule dump (iptables-save, nft list) to the cell;
// reports diff rule dumps of the same name between profiles.
func (w *World) RuleDump(name, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cell.Evidence = append(w.cell.Evidence, results.Evidence{Name: name, Kind: "rules", Text: text})
}

// ExpectationError marks a step failure as an unmet expectation (cell
// status failed) rather than a lab error (cell status error).
type ExpectationError struct{ Msg string }

func (e *ExpectationError) Error() string { return e.Msg }

// IsExpectation reports whether err is an unmet expectation.
func IsExpectation(err error) bool {
	var e *ExpectationError
	return errors.As(err, &e)
}

// Register binds the whole vocabulary to a godog scenario for world w.
func Register(sc *godog.ScenarioContext, w *World) {
	for _, d := range registry {
		sc.Step(d.Pattern, d.bind(w))
	}
}

// runner returns the command runner of a host (a node with its
// environment, or a client).
func (w *World) runner(name string) (execx.Runner, error) {
	return w.D.Runner(name)
}
