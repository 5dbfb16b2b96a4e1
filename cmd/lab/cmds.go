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

	"lab/harness/feature"
	"lab/harness/limaprov"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/harness/runner"
	"lab/reports"
	"lab/scenarios"
)

func cmdList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stdout = safeWriter{stdout} // names and command output may hold escape codes
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
	deadline  time.Duration
	remote    string
	// noSite skips the site in OUT (nightly publishes its own).
	noSite bool
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
	fs.BoolVar(&f.keep, "keep", false, "keep failed cells' nodes for `lab shell CELL NODE`; `lab clean --kept` removes them")
	fs.BoolVar(&f.verbose, "v", false, "print each step as it runs (clearest with -j 1)")
	fs.StringVar(&f.remote, "remote", "", remoteHelp)
	fs.DurationVar(&f.deadline, "deadline", 0, "stop the whole run after this long (e.g. 3h): running cells tear down and are not stored; --resume finishes it (default none)")
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

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stdout = safeWriter{stdout} // names and command output may hold escape codes
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
	if err := checkOut(*out); err != nil {
		return err
	}
	if *siteDir != "" {
		if err := checkOut(*siteDir); err != nil {
			return usagef("--site: %v", err)
		}
	}
	if *runID != "" {
		if *runID != filepath.Base(*runID) || strings.HasPrefix(*runID, ".") {
			return usagef("--run %q is not a run id (a directory name in %s)", terminalSafe(*runID, false), filepath.Join(*out, "runs"))
		}
		if st, err := os.Stat(filepath.Join(*out, "runs", *runID)); err != nil || !st.IsDir() {
			return usagef("no stored run %q in %s (see nights.html or ls %s)", *runID, filepath.Join(*out, "runs"), filepath.Join(*out, "runs"))
		}
	}
	site := reports.Site{Out: *out, Dir: *siteDir, Front: *runID, History: *history}
	res, err := site.Publish()
	for _, s := range res.Skipped {
		fmt.Fprintln(stderr, oneLine(s))
	}
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
	kept := fs.Bool("kept", false, "also remove kept cells (--keep); without it they survive every clean")
	remote := fs.String("remote", "", "also clean the lxd provider's dead runs on this LXD remote (lxc's config.yml, as for run)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("clean takes no arguments (got %q); see lab clean -h", rest[0])
	}
	if os.Geteuid() != 0 {
		return usagef("clean needs root to remove network namespaces; run it with sudo")
	}
	// netns runs are cleaned by their namespaces; the other providers by
	// what they list of each dead run (lxd's list has lxd-vm's VMs: the
	// same daemon).
	var provs []provider.Provider
	for _, name := range sortedKeys(providers) {
		if name != "netns" && name != vmProvider {
			provs = append(provs, providers[name]())
		}
	}
	if *remote != "" {
		rp, err := remoteProviders([]string{"lxd"}, *remote)
		if err != nil {
			return err
		}
		provs = append(provs, rp...)
	}
	removed, err := runner.Clean(context.WithoutCancel(ctx), runner.CleanOptions{All: *all, Kept: *kept, Providers: provs})
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
