package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"lab/harness/netns"
	"lab/harness/provider"
)

// CleanOptions choose what Clean removes besides crashed runs' leftovers.
type CleanOptions struct {
	// All also removes the resources of runs whose owner still lives.
	All bool
	// Kept also removes kept cells (of dead runs; of live ones too with All).
	Kept bool
	// Providers besides netns whose dead runs' resources are removed
	// too, through Provider.Leftovers and Remove (netns runs are cleaned
	// by their namespaces).
	Providers []provider.Provider
}

// keptCell is a kept cell's directory and what it holds.
type keptCell struct {
	dir    string
	prefix string // "" when kept.json cannot be read
	runID  string
}

// Clean removes what crashed runs left: their namespaces (killing
// processes inside) and state directories. Runs whose owner still lives
// are left alone unless o.All is set; kept cells (and their namespaces)
// survive unless o.Kept is set. It never follows a symlink when deleting
// and re-checks a run's owner right before deleting each namespace, so a
// run starting meanwhile is never touched. It returns what it removed.
func Clean(ctx context.Context, o CleanOptions) ([]string, error) {
	return realHost().clean(ctx, o)
}

// host is where runs keep state and namespaces: the real machine
// (realHost), or a test's directory and fake namespace list.
type host struct {
	root string
	list func(prefix string) ([]string, error)
	del  func(ctx context.Context, name string) error
}

func realHost() host { return host{root: StateRoot, list: netns.List, del: netns.Delete} }

func (h host) keptDir() string { return filepath.Join(h.root, "kept") }

func (h host) clean(ctx context.Context, o CleanOptions) ([]string, error) {
	var removed []string
	var errs []error
	unlock, err := lockRoot(h.root, false)
	if errors.Is(err, os.ErrNotExist) {
		unlock = func() {}
	} else if err != nil {
		return nil, err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	kept, err := h.keptCells()
	if err != nil {
		errs = append(errs, err)
	}
	protect := map[string]bool{} // namespace prefixes of surviving kept cells
	for _, k := range kept {
		live := k.runID != "" && CheckRunID(k.runID) == nil && alive(filepath.Join(h.root, shortID(k.runID)))
		if !o.Kept || (live && !o.All) {
			if k.prefix != "" {
				protect[k.prefix] = true
			}
			continue
		}
		if k.prefix != "" && strings.HasPrefix(k.prefix, NamespacePrefix) {
			names, _ := h.list(k.prefix + "-")
			for _, n := range names {
				if err := h.del(ctx, n); err != nil {
					errs = append(errs, err)
				} else {
					removed = append(removed, "netns "+n)
				}
			}
		}
		if err := removeTree(k.dir); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, "kept cell "+filepath.Base(k.dir))
		}
	}
	live := map[string]bool{}
	ents, _ := os.ReadDir(h.root)
	for _, e := range ents {
		d := filepath.Join(h.root, e.Name())
		short := e.Name()
		if tmp, ok := strings.CutPrefix(short, ".new-"); ok {
			short, _, _ = strings.Cut(tmp, "-")
		} else if !isShortID(short) {
			continue // kept/, or not the lab's
		}
		if alive(d) && !o.All {
			live[short] = true
			continue
		}
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, d)
		}
	}
	_ = os.Remove(h.keptDir()) // only when empty
	_ = os.Remove(h.root)
	for _, p := range o.Providers {
		r, err := cleanProvider(ctx, p, live, protect)
		removed = append(removed, r...)
		errs = append(errs, err)
	}
	unlock()
	locked = false
	names, err := h.list(NamespacePrefix)
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	for _, n := range names {
		short, _, _ := strings.Cut(strings.TrimPrefix(n, NamespacePrefix), "-")
		if live[short] || !isShortID(short) || protected(n, protect) {
			continue // a live run's, a kept cell's, or not a run's (tests name theirs lab-ktest-...)
		}
		if !o.All && alive(filepath.Join(h.root, short)) {
			continue // started after the scan above
		}
		if err := h.del(ctx, n); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, "netns "+n)
		}
	}
	return removed, errors.Join(errs...)
}

// CleanRun removes the namespaces a dead run left (not its kept cells'),
// before the run is resumed; the caller owns the run (OpenRun succeeded).
func CleanRun(ctx context.Context, r *Run) ([]string, error) {
	h := realHost()
	h.root = filepath.Dir(r.Dir)
	return h.cleanRun(ctx, r)
}

func (h host) cleanRun(ctx context.Context, r *Run) ([]string, error) {
	kept, _ := h.keptCells()
	protect := map[string]bool{}
	for _, k := range kept {
		protect[k.prefix] = true
	}
	names, err := h.list(r.Prefix + "-")
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range names {
		if protected(n, protect) {
			continue
		}
		if err := h.del(ctx, n); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, "netns "+n)
		}
	}
	return removed, errors.Join(errs...)
}

func protected(name string, prefixes map[string]bool) bool {
	for p := range prefixes {
		if p != "" && strings.HasPrefix(name, p+"-") {
			return true
		}
	}
	return false
}

// keptCells lists the kept cells; the kept directory must be a real one.
func (h host) keptCells() ([]keptCell, error) {
	st, err := os.Lstat(h.keptDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory (%s); lab does not delete through it: remove it (rm %s)", h.keptDir(), st.Mode().Type(), h.keptDir())
	}
	ents, err := os.ReadDir(h.keptDir())
	if err != nil {
		return nil, err
	}
	var out []keptCell
	for _, e := range ents {
		k := keptCell{dir: filepath.Join(h.keptDir(), e.Name())}
		if data, err := os.ReadFile(filepath.Join(k.dir, "kept.json")); err == nil && e.IsDir() {
			var doc Kept
			if json.Unmarshal(data, &doc) == nil && doc.Prefix == NamespacePrefix+strings.TrimPrefix(doc.Prefix, NamespacePrefix) {
				k.prefix, k.runID = doc.Prefix, doc.RunID
			}
		}
		if k.prefix == "" && strings.HasPrefix(e.Name(), NamespacePrefix) {
			k.prefix = e.Name() // the directory is named after the cell's prefix
		}
		out = append(out, k)
	}
	return out, nil
}
