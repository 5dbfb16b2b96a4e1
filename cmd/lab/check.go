package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"lab/harness/feature"
	"lab/harness/profile"
	"lab/scenarios"
)

// problemsError is every problem `lab check` found, as one usage error:
// exit 2, one line per problem.
func problemsError(ps []scenarios.Problem) error {
	if len(ps) == 1 {
		return usagef("%s", ps[0])
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return &usageError{msg: fmt.Sprintf("%d problems in features and profiles (nothing was started; fix each):", len(ps)), lines: lines}
}

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	d, err := defaultDirs()
	if err != nil {
		return err
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: lab check [TARGET...]

Checks features and profiles without booting anything: parses every feature,
binds every step against the vocabulary (lab steps), checks every parameter's
type and range, every <placeholder> against the Examples columns, each cell's
topology, and every profile's fields (a kernel profile's extension names
against the extensions this host's iptables ships). Reports ALL problems with
file:line and exits 2 if there is any. TARGET is a scenario, a .feature file,
a profile name or a profile .yaml file; none means every feature and profile.
lab run and lab matrix run the same check first.
`)
	}
	targets, err := parse(fs, args)
	if err != nil {
		return err
	}
	names, err := profile.Names(d.images)
	if err != nil {
		return err
	}
	isProfile := map[string]bool{}
	for _, n := range names {
		isProfile[n] = true
	}
	var feats, profs []string
	for _, t := range targets {
		switch {
		case strings.HasSuffix(t, ".yaml"):
			if abs(filepath.Dir(t)) != abs(d.images) {
				return usagef("profile %s: profiles live in %s; name one of them", t, d.images)
			}
			profs = append(profs, strings.TrimSuffix(filepath.Base(t), ".yaml"))
		case isProfile[t] && !strings.HasSuffix(t, ".feature"):
			profs = append(profs, t)
		default:
			feats = append(feats, t)
		}
	}
	if len(targets) == 0 {
		profs = names
	}
	var files []string
	if len(targets) == 0 || len(feats) > 0 {
		if files, err = resolveTargets(d, feats); err != nil {
			return err
		}
	}
	c := scenarios.NewChecker(d.images)
	probs, cells := c.Files(files)
	probs = append(probs, c.Profiles(profs)...)
	if len(probs) > 0 {
		return problemsError(dedupe(probs))
	}
	ext := "not checked: " + "no iptables extension libraries on this host"
	if c.Known != nil {
		ext = "checked against " + c.Known.Dir
	}
	fmt.Fprintf(stdout, "ok: %d feature(s), %d cell(s), %d profile(s); kernel profile extensions %s\n", len(files), len(cells), countProfiles(profs, cells), ext)
	return nil
}

// countProfiles counts the distinct profiles named or used by cells.
func countProfiles(named []string, cells []feature.Cell) int {
	seen := map[string]bool{}
	for _, n := range named {
		seen[n] = true
	}
	for _, c := range cells {
		seen[c.Profile] = true
	}
	return len(seen)
}

// dedupe drops repeated problems, keeping the first.
func dedupe(ps []scenarios.Problem) []scenarios.Problem {
	var out []scenarios.Problem
	seen := map[string]bool{}
	for _, p := range ps {
		if !seen[p.String()] {
			seen[p.String()] = true
			out = append(out, p)
		}
	}
	return out
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
