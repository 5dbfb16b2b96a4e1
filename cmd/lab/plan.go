package main

import (
	"os"
	"path/filepath"
	"strings"

	"lab/harness/dockerprov"
	"lab/harness/feature"
	"lab/harness/limaprov"
	"lab/harness/locate"
	"lab/harness/lxdprov"
	"lab/harness/netnsprov"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/scenarios"
)

// dirs are where features and profiles are read from.
type dirs struct {
	features, images, out string
}

func defaultDirs() (dirs, error) {
	root, err := locate.Root()
	if err != nil {
		return dirs{}, usagef("%v", err)
	}
	return dirs{
		features: filepath.Join(root, "features"),
		images:   filepath.Join(root, "images"),
		out:      filepath.Join(root, "reports", "out"),
	}, nil
}

// providers maps provider names to constructors.
var providers = map[string]func() provider.Provider{
	"netns":  netnsprov.New,
	"docker": dockerprov.New,
	"lxd":    lxdprov.New,
	"lxd-vm": lxdprov.NewVM,
	"lima":   limaprov.New,
}

func providerByName(name string) (provider.Provider, error) {
	mk, ok := providers[name]
	if !ok {
		return nil, usagef("unknown provider %q; available providers: %s", name, strings.Join(sortedKeys(providers), ", "))
	}
	return mk(), nil
}

// resolveTargets turns scenario names or .feature paths into feature files.
// No target means every feature.
func resolveTargets(d dirs, targets []string) ([]string, error) {
	known, err := feature.Dir(d.features)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		var all []string
		for _, n := range feature.Names(known) {
			all = append(all, known[n])
		}
		return all, nil
	}
	var files []string
	for _, t := range targets {
		if strings.HasSuffix(t, ".feature") {
			if _, err := os.Stat(t); err != nil {
				return nil, usagef("feature file %s: %v", t, err)
			}
			files = append(files, t)
			continue
		}
		f, ok := known[t]
		if !ok {
			return nil, usagef("unknown scenario %q; valid scenarios: %s (or a path to a .feature file)", t, strings.Join(feature.Names(known), ", "))
		}
		files = append(files, f)
	}
	return files, nil
}

// plan parses the feature files, checks them and the profiles they name as
// `lab check` does (all problems at once, exit 2), and keeps the cells whose profile is in
// only (all when only is empty).
func plan(d dirs, files []string, only []string) ([]feature.Cell, error) {
	valid, err := profile.Names(d.images)
	if err != nil {
		return nil, err
	}
	isValid := map[string]bool{}
	for _, v := range valid {
		isValid[v] = true
	}
	want := map[string]bool{}
	for _, p := range only {
		if !isValid[p] {
			return nil, usagef("unknown profile %q; valid profiles: %s", p, strings.Join(valid, ", "))
		}
		want[p] = true
	}
	probs, all := scenarios.NewChecker(d.images).Files(files)
	if len(probs) > 0 {
		return nil, problemsError(probs)
	}
	var cells []feature.Cell
	for _, c := range all {
		if len(want) == 0 || want[c.Profile] {
			cells = append(cells, c)
		}
	}
	if len(cells) == 0 {
		return nil, usagef("no cells to run: the selected features have no Examples row for profile(s) %s", strings.Join(only, ", "))
	}
	return cells, nil
}
