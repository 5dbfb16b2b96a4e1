package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"lab/harness/cni"
	"lab/harness/feature"
	"lab/harness/kernel"
	"lab/harness/limaprov"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/reports"
	"lab/scenarios"
)

func cmdList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	d, err := defaultDirs()
	if err != nil {
		return err
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	files, err := resolveTargets(d, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "SCENARIOS (features/*.feature; cells are Examples rows)")
	for _, f := range files {
		ft, err := feature.Parse(f)
		if err != nil {
			return usagef("%v", err)
		}
		fmt.Fprintf(stdout, "  %-28s %s  %s\n", ft.Scenario, ft.Title, strings.Join(ft.Tags, " "))
		for _, c := range ft.Cells {
			fmt.Fprintf(stdout, "      line %-4d %-20s %s\n", c.Line, c.Profile, c.Name)
		}
	}
	names, err := profile.Names(d.images)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nPROFILES (images/*.yaml)")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, n := range names {
		p, err := profile.Load(d.images, n)
		if err != nil {
			return usagef("%v", err)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", n, p.Description)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nPROVIDERS\n  %s (default)\n", strings.Join(sortedKeys(providers), ", "))
	return nil
}

func cmdSteps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("steps", flag.ContinueOnError)
	md := fs.Bool("markdown", false, "print the reference section of features/README.md")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *md {
		fmt.Fprint(stdout, scenarios.Markdown())
		return nil
	}
	subject := ""
	for _, d := range scenarios.Vocabulary() {
		if d.Subject != subject {
			subject = d.Subject
			fmt.Fprintf(stdout, "\n== %s\n", subject)
		}
		fmt.Fprintf(stdout, "\n  %s\n      %s\n      pattern: %s\n", d.Example, d.Doc, d.Pattern)
	}
	return nil
}

// runFlags are shared by run and matrix.
type runFlags struct {
	profiles  multiFlag
	providers multiFlag
	tags      string
	json      string
	out       string
	timeout   time.Duration
	jobs      int
	repeat    int
	seed      uint64
	resume    string
	keep      bool
	verbose   bool
}

func (f *runFlags) register(fs *flag.FlagSet, d dirs) {
	fs.Var(&f.profiles, "profile", "run only cells of this profile (repeatable, or a comma list)")
	fs.Var(&f.providers, "provider", "where nodes run (repeatable): "+strings.Join(sortedKeys(providers), ", ")+" (default netns)")
	fs.StringVar(&f.tags, "tags", "", "godog tag expression selecting scenarios, e.g. '@microk8s-4944,@wsl && ~@slow'")
	fs.StringVar(&f.json, "json", "", "also write the cells as a JSON array to this file")
	fs.StringVar(&f.out, "out", d.out, "report directory: runs/RUN_ID/ keeps each run, index.html shows the latest")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "time limit of one cell (its teardown always runs)")
	fs.IntVar(&f.jobs, "j", runtime.NumCPU(), "cells run in parallel")
	fs.IntVar(&f.repeat, "repeat", 1, "run each cell N times; every attempt is recorded and counts")
	fs.Uint64Var(&f.seed, "seed", 0, "order cells by this seed to replay a run's order (default: random, printed)")
	fs.StringVar(&f.resume, "resume", "", "complete the run RUN_ID (a run killed halfway) in its own directory")
	fs.BoolVar(&f.keep, "keep", false, "keep failed cells' nodes for `lab shell CELL NODE`; `lab clean` removes them")
	fs.BoolVar(&f.verbose, "v", false, "print each step as it runs (clearest with -j 1)")
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	d, err := defaultDirs()
	if err != nil {
		return err
	}
	var f runFlags
	f.register(fs, d)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: lab run TARGET... [flags]\n\nTARGET is a scenario (a feature's base name, see `lab list`) or a path to a\n.feature file. Each Examples row of its Scenario Outlines is one cell.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	targets, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(targets) == 0 && f.resume == "" {
		return usagef("no TARGET; name a scenario (see `lab list`) or a .feature file, or use `lab matrix` for all")
	}
	return execute(ctx, d, targets, f, stdout, stderr)
}

func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	d, err := defaultDirs()
	if err != nil {
		return err
	}
	var f runFlags
	f.register(fs, d)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: lab matrix [SCENARIO...] [flags]\n\nRuns every feature x profile x provider (or the named scenarios), in parallel,\nstoring each cell as it finishes under OUT/runs/RUN_ID, then writes the site.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	targets, err := parse(fs, args)
	if err != nil {
		return err
	}
	return execute(ctx, d, targets, f, stdout, stderr)
}

// execute plans (or reloads a killed run's plan), checks preconditions,
// runs the cells in parallel and writes the reports.
func execute(ctx context.Context, d dirs, targets []string, f runFlags, stdout, stderr io.Writer) error {
	if f.jobs < 1 || f.repeat < 1 {
		return usagef("-j and --repeat must be at least 1")
	}
	var provs []provider.Provider
	if len(f.providers) == 0 {
		f.providers = multiFlag{"netns"}
	}
	for _, name := range f.providers {
		p, err := providerByName(name)
		if err != nil {
			return err
		}
		provs = append(provs, p)
	}
	// Providers that keep VMs across cells remove them when the run ends.
	defer shutdown(ctx, provs, stderr)
	var jobs []runner.Job
	var doc *results.Run
	var err error
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
	pluginDir, err := cni.PluginDir()
	if err != nil {
		return usagef("%v", err)
	}
	hidext, _ := kernel.LibPath() // only profiles that hide extensions need it
	if f.resume != "" {
		// The killed run's namespaces and state go first (its owner is dead).
		if _, err := runner.Clean(context.WithoutCancel(ctx), false); err != nil {
			fmt.Fprintf(stderr, "warning: cleaning the killed run: %v\n", err)
		}
	}
	run, err := runner.OpenRun(doc.ID)
	if err != nil {
		return err
	}
	defer run.Close()
	store := &results.Store{Dir: filepath.Join(f.out, "runs", run.ID)}
	if doc.Environment == nil {
		doc.Environment = runner.Describe(ctx, pluginDir)
	}
	if err := store.PutRun(doc); err != nil {
		return err
	}
	log := io.Discard
	if f.verbose {
		log = stdout
	}
	opts := &runner.Options{
		ProfilesDir: d.images, PluginDir: pluginDir, HidextLib: hidext, Run: run, Store: store,
		Timeout: f.timeout, Log: log, Environment: doc.Environment, Keep: f.keep,
	}
	fmt.Fprintf(stdout, "run %s: %d cell(s) to run of %d planned, -j %d, seed %d\n", run.ID, len(jobs), len(doc.Planned), f.jobs, doc.Seed)
	pr := newProgress(stdout, len(jobs), isTerminal(os.Stdout) && !f.verbose)
	opts.RunJobs(ctx, jobs, f.jobs, pr.event)
	pr.finish()
	all, err := store.Load()
	if err != nil {
		return err
	}
	if len(all) == len(doc.Planned) {
		doc.FinishedAt = time.Now().UTC()
		if err := store.PutRun(doc); err != nil {
			return err
		}
	}
	if err := writeReports(f.out, run.ID, all, f.json); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	reports.Terminal(stdout, all)
	fmt.Fprintf(stdout, "\nresults: %s\nreport:  %s\n", store.Dir, filepath.Join(f.out, "index.html"))
	if ctx.Err() != nil {
		return &failedError{fmt.Sprintf("interrupted with %d of %d cells stored; finish with: lab matrix --resume %s", len(all), len(doc.Planned), run.ID)}
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
	return nil
}

// newPlan selects the cells and expands them into jobs.
func newPlan(d dirs, targets []string, f runFlags, provs []provider.Provider) (*results.Run, []runner.Job, error) {
	files, err := resolveTargets(d, targets)
	if err != nil {
		return nil, nil, err
	}
	cells, err := plan(d, files, f.profiles)
	if err != nil {
		return nil, nil, err
	}
	var sel []feature.Cell
	for _, c := range cells {
		if feature.MatchTags(f.tags, c.Tags) {
			sel = append(sel, c)
		}
	}
	if len(sel) == 0 {
		return nil, nil, usagef("no cells match --tags %q", f.tags)
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

// resumePlan reloads a run's plan and keeps the jobs without a stored cell.
func resumePlan(d dirs, f runFlags, provs []provider.Provider) (*results.Run, []runner.Job, error) {
	store := results.Store{Dir: filepath.Join(f.out, "runs", f.resume)}
	doc, err := store.LoadRun()
	if err != nil {
		return nil, nil, usagef("cannot resume %q: %v", f.resume, err)
	}
	byName := map[string]provider.Provider{}
	for _, p := range provs {
		byName[p.Name()] = p
	}
	parsed := map[string]*feature.Feature{}
	var jobs []runner.Job
	for i, pl := range doc.Planned {
		if _, err := os.Stat(filepath.Join(store.Dir, "cells", pl.ID+".json")); err == nil {
			continue
		}
		ft, ok := parsed[pl.FeatureFile]
		if !ok {
			if ft, err = feature.Parse(pl.FeatureFile); err != nil {
				return nil, nil, usagef("cannot resume: %v", err)
			}
			parsed[pl.FeatureFile] = ft
		}
		p, ok := byName[pl.Provider]
		if !ok {
			mk, known := providers[pl.Provider]
			if !known {
				return nil, nil, usagef("cannot resume: unknown provider %q", pl.Provider)
			}
			p = mk()
		}
		found := false
		for _, c := range ft.Cells {
			if c.Line == pl.Line && c.Profile == pl.Profile {
				jobs = append(jobs, runner.Job{Index: i, Cell: c, Provider: p, Attempt: pl.Attempt})
				found = true
				break
			}
		}
		if !found {
			return nil, nil, usagef("cannot resume: %s:%d [%s] no longer exists (the feature changed)", pl.FeatureFile, pl.Line, pl.Profile)
		}
	}
	return doc, jobs, nil
}

// writeReports publishes the site into out after a run: runID's matrix as
// the front page, its own pages, JUnit, JSON and index.json, and the pages
// of stored runs not rendered yet (incrementally; `lab report` rebuilds
// everything); then the --json file.
func writeReports(out, runID string, cells []*results.Cell, jsonPath string) error {
	site := reports.Site{Out: out, Front: runID, Incremental: true}
	if _, err := site.Publish(); err != nil {
		return err
	}
	if jsonPath != "" {
		return reports.WriteJSON(jsonPath, cells)
	}
	return nil
}

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	d, err := defaultDirs()
	if err != nil {
		return err
	}
	out := fs.String("out", d.out, "result directory holding runs/RUN_ID")
	siteDir := fs.String("site", "", "write the site here instead of into OUT (to publish it elsewhere)")
	runID := fs.String("run", "", "run shown on the front page (default: the latest in OUT/runs)")
	history := fs.Int("history", 14, "runs shown in each cell's history strip")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: lab report [flags]\n\nRebuilds the static site from every stored run: SITE/index.html (the front\nrun's matrix with history), SITE/nights.html, SITE/runs/RUN_ID/ (each run's\nmatrix, cell pages, index.json, junit.xml, results.json), SITE/badges/*.svg.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("report takes no arguments (got %q); use --run RUN_ID", rest[0])
	}
	if *history < 1 {
		return usagef("--history must be at least 1")
	}
	if *runID != "" {
		if st, err := os.Stat(filepath.Join(*out, "runs", *runID)); err != nil || !st.IsDir() {
			return usagef("no stored run %q in %s (see nights.html or ls %s)", *runID, filepath.Join(*out, "runs"), filepath.Join(*out, "runs"))
		}
	}
	site := reports.Site{Out: *out, Dir: *siteDir, Front: *runID, History: *history}
	res, err := site.Publish()
	if errors.Is(err, reports.ErrNoRuns) {
		return usagef("no stored runs in %s; run `lab run TARGET` or `lab matrix` first", filepath.Join(*out, "runs"))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report of run %s (%d cells; %d runs rendered): %s\n", res.Front, res.Cells, res.Rendered, res.Index)
	return nil
}

func cmdClean(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	all := fs.Bool("all", false, "also remove the resources of runs that are still running")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return usagef("clean needs root to remove network namespaces; run it with sudo")
	}
	removed, err := runner.Clean(context.WithoutCancel(ctx), *all)
	vms, verr := limaprov.CleanDead(context.WithoutCancel(ctx), func(name string) bool { return *all || runner.DeadRun(name) })
	removed, err = append(removed, vms...), errors.Join(err, verr)
	for _, r := range removed {
		fmt.Fprintf(stdout, "removed %s\n", r)
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "nothing to clean")
	}
	return err
}

// shutdown ends what providers kept across the run's cells (VMs).
func shutdown(ctx context.Context, provs []provider.Provider, stderr io.Writer) {
	for _, p := range provs {
		if s, ok := p.(provider.Shutdowner); ok {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			if err := s.Shutdown(sctx); err != nil {
				fmt.Fprintf(stderr, "warning: provider %s: shutdown: %v\n", p.Name(), err)
			}
			cancel()
		}
	}
}
