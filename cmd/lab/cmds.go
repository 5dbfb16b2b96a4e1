package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"lab/harness/cni"
	"lab/harness/feature"
	"lab/harness/kernel"
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
	profiles multiFlag
	provider string
	json     string
	out      string
	timeout  time.Duration
	quiet    bool
}

func (f *runFlags) register(fs *flag.FlagSet, d dirs) {
	fs.Var(&f.profiles, "profile", "run only the cells of this profile (repeatable, or a comma list)")
	fs.StringVar(&f.provider, "provider", "netns", "where nodes run: "+strings.Join(sortedKeys(providers), ", "))
	fs.StringVar(&f.json, "json", "", "also write the cells as a JSON array to this file")
	fs.StringVar(&f.out, "out", d.out, "report directory: runs/RUN_ID/ keeps results, index.html shows the latest run")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "time limit of one cell")
	fs.BoolVar(&f.quiet, "q", false, "print only the final table, not each step")
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
	if len(targets) == 0 {
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
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("matrix takes no arguments (got %q); use `lab run TARGET` for one scenario", rest)
	}
	return execute(ctx, d, nil, f, stdout, stderr)
}

// execute plans, checks preconditions, runs the cells and writes reports.
func execute(ctx context.Context, d dirs, targets []string, f runFlags, stdout, stderr io.Writer) error {
	files, err := resolveTargets(d, targets)
	if err != nil {
		return err
	}
	cells, err := plan(d, files, f.profiles)
	if err != nil {
		return err
	}
	prov, err := providerByName(f.provider)
	if err != nil {
		return err
	}
	if err := prov.Check(ctx); err != nil {
		var ue *provider.UnavailableError
		if errors.As(err, &ue) {
			return usagef("%v", err)
		}
		return usagef("provider %s: %v", prov.Name(), err)
	}
	pluginDir, err := cni.PluginDir()
	if err != nil {
		return usagef("%v", err)
	}
	hidext, _ := kernel.LibPath() // only profiles that hide extensions need it
	run, err := runner.NewRun()
	if err != nil {
		return err
	}
	defer run.Close()
	store := &results.Store{Dir: filepath.Join(f.out, "runs", run.ID)}
	log := io.Writer(stdout)
	if f.quiet {
		log = io.Discard
	}
	opts := &runner.Options{
		Provider: prov, ProfilesDir: d.images, PluginDir: pluginDir, HidextLib: hidext, Run: run, Store: store,
		Timeout: f.timeout, Log: log, Environment: runner.Describe(ctx, pluginDir),
	}
	fmt.Fprintf(stdout, "run %s: %d cell(s) on %s\n", run.ID, len(cells), prov.Name())
	var done []*results.Cell
	for i, c := range cells {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "interrupted: %d of %d cells done\n", i, len(cells))
			break
		}
		fmt.Fprintf(stdout, "[%d/%d] %s\n", i+1, len(cells), fmtCell(c))
		res := opts.Cell(ctx, i, c)
		fmt.Fprintf(stdout, "[%d/%d] %s: %s in %dms\n", i+1, len(cells), fmtCell(c), res.Status, res.DurationMS)
		done = append(done, res)
	}
	if err := writeReports(f.out, run.ID, done, f.json); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	reports.Terminal(stdout, done)
	fmt.Fprintf(stdout, "\nresults: %s\nreport:  %s\n", store.Dir, filepath.Join(f.out, "index.html"))
	if ctx.Err() != nil {
		return &failedError{"interrupted"}
	}
	bad := 0
	for _, c := range done {
		if c.Status == results.Failed || c.Status == results.Error {
			bad++
		}
	}
	if bad > 0 {
		return &failedError{fmt.Sprintf("%d of %d cell(s) failed or errored", bad, len(done))}
	}
	return nil
}

// writeReports renders the site, the run's JSON and JUnit, and the --json file.
func writeReports(out, runID string, cells []*results.Cell, jsonPath string) error {
	runDir := filepath.Join(out, "runs", runID)
	if err := reports.WriteJSON(filepath.Join(runDir, "results.json"), cells); err != nil {
		return err
	}
	if err := reports.WriteJUnit(filepath.Join(runDir, "junit.xml"), "lab", cells); err != nil {
		return err
	}
	if err := reports.WriteSite(out, "lab: MicroK8s networking failures x environments", runID, cells); err != nil {
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
	out := fs.String("out", d.out, "report directory holding runs/")
	runID := fs.String("run", "", "run to render (default: the latest in OUT/runs)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	id := *runID
	if id == "" {
		runs, _ := filepath.Glob(filepath.Join(*out, "runs", "*"))
		if len(runs) == 0 {
			return usagef("no stored runs in %s; run `lab run TARGET` or `lab matrix` first", filepath.Join(*out, "runs"))
		}
		id = filepath.Base(runs[len(runs)-1])
	}
	store := results.Store{Dir: filepath.Join(*out, "runs", id)}
	cells, err := store.Load()
	if err != nil {
		return err
	}
	if len(cells) == 0 {
		return usagef("run %s has no stored cells in %s", id, store.Dir)
	}
	if err := writeReports(*out, id, cells, ""); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report of run %s (%d cells): %s\n", id, len(cells), filepath.Join(*out, "index.html"))
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
	for _, r := range removed {
		fmt.Fprintf(stdout, "removed %s\n", r)
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "nothing to clean")
	}
	return err
}

// printJSON is used by commands with --json output.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
