package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"lab/harness/cni"
	"lab/harness/feature"
	"lab/harness/kernel"
	"lab/harness/kubeproxy"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/reports"
)

// execute plans (or reloads a killed run's plan), checks preconditions,
// takes ownership of the run, runs the cells in parallel and writes the
// reports. Everything that can be bad input is checked before anything is
// created.
func execute(ctx context.Context, d dirs, targets []string, f runFlags, stdout, stderr io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	if len(f.providers) == 0 {
		f.providers = multiFlag{"netns"}
	}
	f.providers = unique(f.providers)
	f.profiles = unique(f.profiles)
	provs, err := remoteProviders(f.providers, f.remote)
	if err != nil {
		return err
	}
	// What providers keep across a run's cells (LXD's bases, lima's VMs)
	// goes when the run ends (the call was lost when execute moved here).
	defer shutdown(ctx, provs, stderr)
	var jobs []runner.Job
	var doc *results.Run
	if f.resume != "" {
		doc, jobs, err = resumePlan(d, f, provs)
	} else {
		doc, jobs, err = newPlan(d, targets, f, provs)
	}
	if err != nil {
		return err
	}
	// Preflight: a provider that cannot run here is bad input for an
	// explicit run (its cells would all be skipped).
	for _, p := range provs {
		if err := p.Check(ctx); err != nil {
			return usagef("%v", err)
		}
	}
	parallel, err := perMember(ctx, provs, f.jobs, stdout)
	if err != nil {
		return err
	}
	pluginDir, err := cni.PluginDir()
	if err != nil {
		return usagef("%v", err)
	}
	hidext, _ := kernel.LibPath()      // only profiles that hide extensions need it
	kubeProxyDir, _ := kubeproxy.Dir() // only cells that run kube-proxy need it; they error with the fix
	store := &results.Store{Dir: filepath.Join(f.out, "runs", doc.ID)}
	// One owner per run: the result directory's lock, then the state
	// directory's owner file (both refuse a live run).
	release, err := store.Lock()
	var le *results.LockedError
	if errors.As(err, &le) {
		return usagef("run %s is still running (%s is locked by its process); wait for it to end or stop it", doc.ID, store.Dir)
	}
	if err != nil {
		return err
	}
	defer release()
	run, err := runner.OpenRun(doc.ID)
	var live *runner.LiveError
	if errors.As(err, &live) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	defer run.Close()
	if f.resume != "" {
		// The killed run's namespaces go first (its owner is dead; its kept
		// cells stay).
		if _, err := runner.CleanRun(context.WithoutCancel(ctx), run); err != nil {
			fmt.Fprintf(stderr, "warning: cleaning the killed run: %s\n", oneLine(err.Error()))
		}
	}
	if doc.Environment == nil {
		doc.Environment = runner.Describe(ctx, pluginDir)
	}
	if err := store.PutRun(doc); err != nil {
		return err
	}
	log := io.Discard
	if f.verbose {
		log = safeWriter{stdout}
	}
	opts := &runner.Options{
		ProfilesDir: d.images, PluginDir: pluginDir, KubeProxyDir: kubeProxyDir, HidextLib: hidext, Run: run, Store: store,
		Timeout: f.timeout, Log: log, Environment: doc.Environment, Keep: f.keep,
	}
	if f.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.deadline)
		defer cancel()
	}
	fmt.Fprintf(stdout, "run %s: %d cell(s) to run of %d planned, -j %d, seed %d\n", run.ID, len(jobs), len(doc.Planned), f.jobs, doc.Seed)
	pr := newProgress(stdout, len(jobs), isTerminal(os.Stdout) && !f.verbose)
	setAbandons(ctx, func() string { return pr.abandons(run) })
	opts.RunJobs(ctx, jobs, parallel, pr.event)
	pr.finish()
	setAbandons(ctx, nil)
	all, skipped, err := store.Scan()
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintln(stderr, oneLine(s.String()))
	}
	if complete(doc, all) {
		doc.FinishedAt = time.Now().UTC()
		if err := store.PutRun(doc); err != nil {
			return err
		}
	}
	if f.noSite {
		if f.json != "" {
			if err := reports.WriteJSON(f.json, all); err != nil {
				return err
			}
		}
	} else if err := writeReports(f.out, run.ID, all, f.json, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	reports.Terminal(stdout, all)
	disagree := printDisagreements(stdout, all)
	fmt.Fprintf(stdout, "\nresults: %s\n", store.Dir)
	if !f.noSite {
		fmt.Fprintf(stdout, "report:  %s\n", filepath.Join(f.out, "index.html"))
	}
	if ctx.Err() != nil {
		why := "interrupted"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = fmt.Sprintf("deadline %s reached", f.deadline)
		}
		return &failedError{fmt.Sprintf("%s with %d of %d cells stored (cells cut short are not stored); finish with: %s", why, len(all), len(doc.Planned), resumeCommand(run.ID, f.out))}
	}
	bad := 0
	for _, c := range all {
		if results.Bad(c.Verdict) {
			bad++
		}
	}
	if bad > 0 {
		return &failedError{fmt.Sprintf("%d of %d cell(s) are regressions, unexpectedly fixed, failed or infra errors", bad, len(all))}
	}
	if disagree > 0 {
		return &failedError{fmt.Sprintf("%d cell(s) have different verdicts on different providers", disagree)}
	}
	return nil
}

// complete reports whether every planned cell is stored.
func complete(doc *results.Run, cells []*results.Cell) bool {
	have := map[string]bool{}
	for _, c := range cells {
		have[c.ID] = true
	}
	for _, p := range doc.Planned {
		if !have[p.ID] {
			return false
		}
	}
	return true
}

// resumeCommand is the command that finishes run id stored in out,
// exactly as it must be typed (the --out it was written to included).
func resumeCommand(id, out string) string {
	cmd := "lab matrix --resume " + id
	if abs, err := filepath.Abs(out); err == nil {
		if def, err := defaultDirs(); err != nil || filepath.Clean(def.out) != abs {
			cmd += " --out " + shellQuote(abs)
		}
	}
	return cmd
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\$`*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// newPlan selects the cells and expands them into jobs. A target, profile
// or provider named twice counts once: every planned cell ID is unique.
func newPlan(d dirs, targets []string, f runFlags, provs []provider.Provider) (*results.Run, []runner.Job, error) {
	files, err := resolveTargets(d, targets)
	if err != nil {
		return nil, nil, err
	}
	files = uniqueFiles(files)
	cells, err := plan(d, files, f.profiles)
	if err != nil {
		return nil, nil, err
	}
	var sel []feature.Cell
	seen := map[string]string{} // cell key -> feature file
	for _, c := range cells {
		key := results.CellID(c.Scenario, c.Line, c.Profile, "")
		if file, dup := seen[key]; dup {
			if file != c.File {
				return nil, nil, usagef("two features are named %q (%s and %s): cells need unique names; rename one file", c.Scenario, file, c.File)
			}
			continue
		}
		seen[key] = c.File
		if feature.MatchTags(f.tags, c.Tags) {
			sel = append(sel, c)
		}
	}
	if len(sel) == 0 {
		return nil, nil, usagef("no cells match --tags %q (tags of the selected scenarios: see `lab list`)", f.tags)
	}
	if err := checkVMCells(d, sel, provs); err != nil {
		return nil, nil, err
	}
	if n := len(sel) * len(provs) * f.repeat; n > maxJobs {
		return nil, nil, usagef("%d cells x %d provider(s) x --repeat %d = %d attempts, more than %d; lower --repeat or select fewer cells", len(sel), len(provs), f.repeat, n, maxJobs)
	}
	seed := f.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	jobs := runner.Expand(sel, provs, f.repeat, seed)
	id, err := runner.NewRunID()
	if err != nil {
		return nil, nil, err
	}
	doc := &results.Run{ID: id, StartedAt: time.Now().UTC(), Seed: seed, Jobs: f.jobs, Repeat: f.repeat,
		TimeoutSec: int(f.timeout.Seconds()), Keep: f.keep,
		Filters: map[string][]string{"targets": targets, "profiles": f.profiles, "providers": f.providers}}
	if f.tags != "" {
		doc.Filters["tags"] = []string{f.tags}
	}
	for _, j := range jobs {
		doc.Planned = append(doc.Planned, j.Planned())
	}
	return doc, jobs, nil
}

// writeReports publishes the site into out after a run: runID's matrix as
// the front page, its own pages, JUnit, JSON and index.json, and the pages
// of stored runs not rendered yet (incrementally; `lab report` rebuilds
// everything); then the --json file. Skipped files are reported on stderr.
func writeReports(out, runID string, cells []*results.Cell, jsonPath string, stderr io.Writer) error {
	site := reports.Site{Out: out, Front: runID, Incremental: true}
	res, err := site.Publish()
	for _, s := range res.Skipped {
		if !strings.Contains(s, filepath.Join("runs", runID)+string(filepath.Separator)) { // this run's were reported
			fmt.Fprintln(stderr, oneLine(s))
		}
	}
	if err != nil {
		return err
	}
	if jsonPath != "" {
		return reports.WriteJSON(jsonPath, cells)
	}
	return nil
}
