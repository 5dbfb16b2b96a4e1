// Package runner executes cells: for each (scenario row x profile x
// provider) it boots an environment, runs the scenario's steps through godog
// against the step vocabulary, records observations and evidence, always
// tears the environment down, and stores the cell's result atomically.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"lab/harness/agent"
	"lab/harness/driver"
	"lab/harness/feature"
	"lab/harness/microk8s"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/sim"
	"lab/harness/timing"
	"lab/scenarios"

	"github.com/cucumber/godog"
)

// Options configure a run.
type Options struct {
	Provider    provider.Provider
	ProfilesDir string
	PluginDir   string
	// KubeProxyDir holds the built kube-proxy binaries (VERSION/kube-proxy).
	KubeProxyDir string
	// HidextLib is the built kernel-profile library ("" when not built;
	// cells whose profile hides extensions then error with the fix).
	HidextLib string
	// Run is the run's identity and state directory.
	Run *Run
	// Store receives each cell when it ends; nil keeps results in memory.
	Store *results.Store
	// Timeout bounds one cell (default 2 minutes).
	Timeout time.Duration
	// Log receives progress lines and step traces; nil discards them.
	Log io.Writer
	// Environment is recorded into every cell (see Describe).
	Environment map[string]string
	// Keep leaves a failed or errored cell's namespaces and processes in
	// place (see Kept) instead of tearing them down.
	Keep bool
	// AgentExe is the lab executable pushed into nodes as the agent
	// ("": this process's executable).
	AgentExe string
}

func (o *Options) log() io.Writer {
	if o.Log == nil {
		return io.Discard
	}
	return o.Log
}

// Cell runs one cell on o.Provider; idx makes its resource prefix unique
// within the run. It never panics and always returns a result.
func (o *Options) Cell(ctx context.Context, idx int, fc feature.Cell) *results.Cell {
	return o.Job(ctx, Job{Index: idx, Cell: fc, Provider: o.Provider, Attempt: 1})
}

// Job runs one attempt of one cell on the job's provider.
func (o *Options) Job(ctx context.Context, j Job) (res *results.Cell) {
	start := time.Now()
	runCtx := ctx // the run's context: cancelled by Ctrl-C or the run's deadline
	idx, fc, prov := j.Index, j.Cell, j.Provider
	key := results.CellID(fc.Scenario, fc.Line, fc.Profile, prov.Name())
	res = &results.Cell{
		SchemaVersion: results.SchemaVersion, RunID: o.Run.ID,
		ID: results.AttemptID(key, j.Attempt), Attempt: j.Attempt,
		Scenario: fc.Scenario, Feature: fc.Feature, Name: fc.Name, FeatureFile: fc.File, Line: fc.Line,
		Tags: fc.Tags, Profile: fc.Profile, Provider: prov.Name(),
		Observations: map[string]any{}, StartedAt: start.UTC(), Environment: map[string]string{},
	}
	for k, v := range o.Environment {
		res.Environment[k] = v
	}
	defer func() {
		if r := recover(); r != nil {
			res.Status, res.Error = results.Error, fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
		}
		res.DurationMS = time.Since(start).Milliseconds()
		res.Verdict = results.Verdict(res)
		if res.Interrupted = interrupted(runCtx); res.Interrupted {
			return // not a result: the cell runs again on --resume
		}
		if o.Store != nil {
			if err := o.Store.Put(res); err != nil && res.Error == "" {
				res.Status, res.Error = results.Error, err.Error()
			}
		}
	}()
	res.Environment["provider"] = prov.Name()
	if u, ok := prov.(provider.Userspacer); ok {
		res.Environment["node_userspace"] = u.Userspace()
	}
	if err := prov.Check(ctx); err != nil {
		var ue *provider.UnavailableError
		if errors.As(err, &ue) {
			res.Status, res.Error = results.Skipped, err.Error()
		} else {
			res.Status, res.Error = results.Error, err.Error()
		}
		return res
	}
	prof, err := profile.Load(o.ProfilesDir, fc.Profile)
	if err != nil {
		res.Status, res.Error = results.Error, err.Error()
		return res
	}
	res.Pinned = Pinned(prof)
	if src := PinnedSources(prof); len(src) > 0 {
		res.PinnedSources = src
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	if sb, ok := prov.(provider.SlowBooter); ok {
		timeout += sb.BootAllowance()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Timings: where the cell's time goes, recorded as evidence when the
	// cell ends (teardown included).
	rec := timing.New()
	envStart := time.Now()
	prefix := fmt.Sprintf("%s-%d", o.Run.Prefix, idx)
	stateDir := filepath.Join(o.Run.Dir, fmt.Sprint(idx))
	var env provider.Env
	if pe, ok := prov.(provider.ProfileEnver); ok {
		env, err = pe.NewProfileEnv(ctx, prefix, prof)
	} else if ip, ok := prov.(provider.ImageProvider); ok {
		env, err = ip.NewImageEnv(ctx, prefix, prof.Image)
	} else {
		env, err = prov.NewEnv(ctx, prefix)
	}
	var cluster *sim.Cluster
	// Teardown is registered before the error check and runs on a fresh
	// context: a cancelled or timed-out cell still removes what it made.
	defer func() {
		if o.Keep && env != nil && (res.Status == results.Failed || res.Status == results.Error) {
			if kerr := o.keep(res, prefix, stateDir, prov.Name(), cluster); kerr == nil {
				return
			} else {
				res.Error = strings.TrimSpace(res.Error + "\nkeep: " + kerr.Error())
			}
		}
		defer func() {
			res.Evidence = append(res.Evidence, results.Evidence{Name: "timings: where the cell's time went", Kind: "log", Text: rec.Report(12)})
		}()
		torn := time.Now()
		defer rec.Add(timing.Phase, "teardown", "", torn)
		if cluster != nil {
			cluster.Close()
		}
		tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer tcancel()
		if env != nil {
			if cerr := env.Close(tctx); cerr != nil {
				res.Status = results.Error
				res.Error = strings.TrimSpace(res.Error + "\nteardown: " + cerr.Error())
			}
		}
		_ = os.RemoveAll(stateDir)
	}()
	rec.Add(timing.Phase, "environment", "", envStart)
	if err != nil {
		res.Status, res.Error = results.Error, err.Error()
		return res
	}
	if u, ok := env.(provider.Userspacer); ok {
		res.Environment["node_userspace"] = u.Userspace()
	}
	var drv driver.Driver
	facts := func(context.Context) map[string]agent.Facts { return nil }
	if prof.Driver == profile.DriverMicroK8s {
		mk := microk8s.New(env, prof) // the real snap (lab check keeps it to VM providers)
		drv, facts = mk.Driver(), mk.Facts
	} else {
		cluster = sim.New(env, prof, sim.Options{StateDir: stateDir, PluginDir: o.PluginDir, KubeProxyDir: o.KubeProxyDir, HidextLib: o.HidextLib, AgentExe: o.AgentExe, Timings: rec})
		drv, facts = cluster.Driver(), cluster.Facts
	}
	var trace bytes.Buffer
	w := scenarios.NewWorld(drv, res, io.MultiWriter(&trace, o.log()))
	stepsStart := time.Now()
	o.steps(ctx, fc, w, res)
	rec.Add(timing.Phase, "steps", "", stepsStart)
	recordHiding(res, env)
	if ctx.Err() == nil {
		factsStart := time.Now()
		fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
		recordRan(res, facts(fctx))
		fcancel()
		rec.Add(timing.Phase, "facts", "", factsStart)
	}
	if ctx.Err() != nil && res.Status != results.Failed {
		res.Status = results.Error
		// The cause first: the step error that follows is its consequence.
		why := "interrupted"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = fmt.Sprintf("%v (timeout %s)", ctx.Err(), timeout)
		}
		res.Error = strings.TrimSpace("cell stopped: " + why + "\n" + res.Error)
	}
	return res
}

// steps runs the cell's steps with godog and fills res.Steps and res.Status.
func (o *Options) steps(ctx context.Context, fc feature.Cell, w *scenarios.World, res *results.Cell) {
	var mu sync.Mutex
	var started time.Time
	i := 0
	init := func(sc *godog.ScenarioContext) {
		scenarios.Register(sc, w)
		sc.StepContext().Before(func(ctx context.Context, st *godog.Step) (context.Context, error) {
			started = time.Now()
			return ctx, nil
		})
		sc.StepContext().After(func(ctx context.Context, st *godog.Step, status godog.StepResultStatus, err error) (context.Context, error) {
			mu.Lock()
			defer mu.Unlock()
			s := results.Step{Text: st.Text, Status: status.String()}
			if i < len(fc.Steps) {
				s.Keyword, s.Line = fc.Steps[i].Keyword, fc.Steps[i].Line
			}
			i++
			if status == godog.StepPassed || status == godog.StepFailed {
				s.DurationMS = time.Since(started).Milliseconds()
			}
			if err != nil {
				s.Error = err.Error()
			}
			if status == godog.StepUndefined {
				s.Error = "undefined step; see `lab steps` for the vocabulary"
			}
			fmt.Fprintf(o.log(), "    %-9s %s %s\n", s.Status, s.Keyword, s.Text)
			res.Steps = append(res.Steps, s)
			switch {
			case status == godog.StepFailed && scenarios.IsExpectation(err):
				if res.Status == "" {
					res.Status = results.Failed
					res.Error = fmt.Sprintf("expectation not met at %s:%d: %s", fc.File, s.Line, s.Error)
				}
			case status == godog.StepFailed, status == godog.StepUndefined, status == godog.StepPending, status == godog.StepAmbiguous:
				res.Status = results.Error
				if res.Error == "" {
					res.Error = fmt.Sprintf("step %q (%s:%d): %s", st.Text, fc.File, s.Line, s.Error)
				}
			}
			return ctx, nil
		})
		// Steps that model a daemon may leave work in the background
		// (Felix retrying): it ends before the scenario's context does.
		sc.After(func(ctx context.Context, _ *godog.Scenario, _ error) (context.Context, error) {
			if err := w.Settle(); err != nil {
				mu.Lock()
				defer mu.Unlock()
				if res.Status != results.Failed {
					res.Status = results.Error
				}
				if res.Error == "" {
					res.Error = err.Error()
				}
			}
			return ctx, nil
		})
	}
	suite := godog.TestSuite{
		Name:                fc.Scenario,
		ScenarioInitializer: init,
		Options: &godog.Options{
			Format:          "progress",
			Output:          io.Discard,
			Strict:          true,
			DefaultContext:  ctx,
			FeatureContents: []godog.Feature{{Name: fc.File, Contents: []byte(fc.Source())}},
		},
	}
	suite.Run()
	if res.Status == "" {
		res.Status = results.Passed
	}
}
