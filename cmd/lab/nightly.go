package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"lab/harness/results"
	"lab/reports"
)

// nightlyFlags are nightly's own flags on top of matrix's.
type nightlyFlags struct {
	site     string
	keepRuns int
	maxAge   time.Duration
}

func cmdNightly(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nightly", flag.ContinueOnError)
	d, err := defaultDirs()
	if err != nil {
		return err
	}
	var f runFlags
	f.register(fs, d)
	root := filepath.Dir(filepath.Dir(d.out))
	fs.Lookup("out").DefValue = filepath.Join(root, "reports", "nightly-runs")
	f.out = fs.Lookup("out").DefValue
	fs.Lookup("deadline").DefValue = "3h0m0s"
	f.deadline = 3 * time.Hour
	var n nightlyFlags
	fs.StringVar(&n.site, "site", filepath.Join(root, "reports", "site"), "publish the site here, atomically (built aside, then swapped in with one rename)")
	fs.IntVar(&n.keepRuns, "keep-runs", 60, "retention: keep the newest N runs in OUT/runs (0: no count limit)")
	fs.DurationVar(&n.maxAge, "max-age", 0, "retention: also remove runs older than this, e.g. 2160h (default: no age limit)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: lab nightly [SCENARIO...] [flags]\n\nThe unattended nightly: runs the matrix into OUT/runs with a global --deadline\n(cells still running then are torn down and not stored), applies the retention\npolicy to OUT/runs, and publishes the site with history into --site atomically.\nThe exit status is the matrix's (0 all as expected, 1 a bad cell or the\ndeadline, 2 bad usage); the site is published in every case but 2.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	targets, err := parse(fs, args)
	if err != nil {
		return err
	}
	if n.keepRuns < 0 || n.maxAge < 0 {
		return usagef("--keep-runs and --max-age must not be negative")
	}
	if f.resume != "" {
		return usagef("nightly starts a new run; finish a killed one with lab matrix --resume ID --out %s", f.out)
	}
	if err := checkOut(n.site); err != nil {
		return usagef("--site: %v", err)
	}
	if abs, _ := filepath.Abs(n.site); abs == mustAbs(f.out) {
		return usagef("--site and --out are both %s; the site is published apart from the results", abs)
	}
	f.noSite = true
	runErr := execute(ctx, d, targets, f, stdout, stderr)
	var ue *usageError
	if errors.As(runErr, &ue) {
		return runErr
	}
	removed, err := results.Prune(f.out, results.Retention{KeepRuns: n.keepRuns, MaxAge: n.maxAge}, time.Now())
	for _, id := range removed {
		fmt.Fprintf(stdout, "retention: removed run %s\n", id)
	}
	if err != nil {
		fmt.Fprintf(stderr, "warning: %s\n", oneLine(err.Error()))
	}
	res, err := reports.PublishAtomic(reports.Site{Out: f.out, Dir: n.site})
	for _, s := range res.Skipped {
		fmt.Fprintln(stderr, oneLine(s))
	}
	if err != nil && !errors.Is(err, reports.ErrNoRuns) {
		return errors.Join(runErr, err)
	}
	if err == nil {
		fmt.Fprintf(stdout, "published %s (run %s, %d runs)\n", res.Index, res.Front, res.Runs)
	}
	return runErr
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
