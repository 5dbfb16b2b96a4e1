package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestOpenRunConfinesIDs is the regression test of row 1 of issue 13: a
// crafted run id never names a directory outside the state root.
func TestOpenRunConfinesIDs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lab")
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, "precious"), []byte("x"), 0o644)
	for _, id := range []string{
		"20250101T000000Z-../../../" + strings.TrimPrefix(victim, "/"),
		"20250101T000000Z-..", "20250101T000000Z-", "x", "", "20250101T000000Z-abcdeg", "20250101T000000Z-ABCDEF",
		"20250101T000000Z-abcdef/..", "20250101T000000Z-abcdef\n",
	} {
		if r, err := openRunIn(root, id); err == nil {
			r.Close()
			t.Errorf("openRun(%q) accepted", id)
		} else if !strings.Contains(err.Error(), "bad run id") {
			t.Errorf("openRun(%q) = %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(victim, "precious")); err != nil {
		t.Fatal("a crafted id removed a directory outside the state root")
	}
}

// TestOpenRunOneOwner is the regression test of rows 3 and 7: a live
// run's state cannot be claimed twice; a dead owner's can; the directory
// appears with its owner inside.
func TestOpenRunOneOwner(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lab")
	id := "20250101T000000Z-0a1b2c"
	r, err := openRunIn(root, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, live := owner(r.Dir); !live {
		t.Error("a fresh run's directory has no live owner")
	}
	_, err = openRunIn(root, id)
	var le *LiveError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "is still running (pid ") {
		t.Fatalf("second owner: %v", err)
	}
	// A killed owner: pid 1 with a start time that is not pid 1's.
	os.WriteFile(filepath.Join(r.Dir, "owner"), []byte("1 999999999999"), 0o644)
	os.WriteFile(filepath.Join(r.Dir, "leftover"), nil, 0o644)
	r2, err := openRunIn(root, id)
	if err != nil {
		t.Fatalf("resume after the owner died: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r2.Dir, "leftover")); !os.IsNotExist(err) {
		t.Error("the dead run's state was not replaced")
	}
	r2.Close()
	if left, _ := filepath.Glob(filepath.Join(root, ".new-*")); len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}

// fakeHost is a state root in a temp dir with a fake namespace list.
type fakeHost struct {
	host
	names   []string
	deleted []string
	onList  func()
}

func newFakeHost(t *testing.T, names ...string) *fakeHost {
	f := &fakeHost{names: names}
	f.host = host{root: filepath.Join(t.TempDir(), "lab"),
		list: func(prefix string) ([]string, error) {
			if f.onList != nil {
				f.onList()
			}
			var out []string
			for _, n := range f.names {
				if strings.HasPrefix(n, prefix) {
					out = append(out, n)
				}
			}
			return out, nil
		},
		del: func(_ context.Context, name string) error {
			f.deleted = append(f.deleted, name)
			for i, n := range f.names {
				if n == name {
					f.names = append(f.names[:i:i], f.names[i+1:]...)
					break
				}
			}
			return nil
		},
	}
	os.MkdirAll(f.root, 0o755)
	return f
}

func (f *fakeHost) runDir(t *testing.T, short, owner string) {
	os.MkdirAll(filepath.Join(f.root, short), 0o755)
	os.WriteFile(filepath.Join(f.root, short, "owner"), []byte(owner), 0o644)
}

func (f *fakeHost) keptCell(t *testing.T, prefix, runID string) {
	d := filepath.Join(f.keptDir(), prefix)
	os.MkdirAll(d, 0o755)
	os.WriteFile(filepath.Join(d, "kept.json"), []byte(`{"cell":"c","run_id":"`+runID+`","prefix":"`+prefix+`"}`), 0o644)
}

func selfOwner() string {
	return strconv.Itoa(os.Getpid()) + " " + startTime(os.Getpid())
}

// TestCleanSparesKeptLiveAndForeign is the regression test of rows 7, 8
// and 19: clean removes a dead run's namespaces and state only; kept cells
// survive without --kept; a live run (also one that starts during the
// clean) is untouched; a symlinked kept directory is never followed.
func TestCleanSparesKeptLiveAndForeign(t *testing.T) {
	f := newFakeHost(t, "lab-aaaaaa-3-h-node1", "lab-bbbbbb-0-fabric", "lab-cccccc-1-x", "lab-ktest-foo", "lab-dddddd-0-x")
	f.runDir(t, "bbbbbb", "1 999999999999") // dead
	f.runDir(t, "cccccc", selfOwner())      // live
	f.keptCell(t, "lab-aaaaaa-3", "20250101T000000Z-aaaaaa")
	// dddddd starts while clean runs: after the state scan, before the
	// namespace listing.
	f.onList = func() { f.runDir(t, "dddddd", selfOwner()) }
	removed, err := f.clean(context.Background(), CleanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(f.deleted)
	if strings.Join(f.deleted, " ") != "lab-bbbbbb-0-fabric" {
		t.Errorf("deleted %v, want only the dead run's lab-bbbbbb-0-fabric (removed %v)", f.deleted, removed)
	}
	for _, keep := range []string{"cccccc", "dddddd", "kept/lab-aaaaaa-3/kept.json"} {
		if _, err := os.Stat(filepath.Join(f.root, keep)); err != nil {
			t.Errorf("%s removed", keep)
		}
	}
	if _, err := os.Stat(filepath.Join(f.root, "bbbbbb")); !os.IsNotExist(err) {
		t.Error("dead run's state kept")
	}
	f.onList, f.deleted = nil, nil
	f.names = []string{"lab-aaaaaa-3-h-node1"}
	if _, err := f.clean(context.Background(), CleanOptions{Kept: true}); err != nil {
		t.Fatal(err)
	}
	if len(f.deleted) != 1 || f.deleted[0] != "lab-aaaaaa-3-h-node1" {
		t.Errorf("--kept deleted %v", f.deleted)
	}
	if _, err := os.Stat(filepath.Join(f.keptDir(), "lab-aaaaaa-3")); !os.IsNotExist(err) {
		t.Error("--kept left the kept cell")
	}

	// /run/lab/kept as a symlink: its target is never emptied.
	g := newFakeHost(t)
	victim := t.TempDir()
	os.MkdirAll(filepath.Join(victim, "lab-eeeeee-1"), 0o755)
	os.WriteFile(filepath.Join(victim, "precious"), []byte("x"), 0o644)
	os.Symlink(victim, g.keptDir())
	_, err = g.clean(context.Background(), CleanOptions{Kept: true, All: true})
	if err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("clean through a symlinked kept dir: %v", err)
	}
	for _, p := range []string{"precious", "lab-eeeeee-1"} {
		if _, err := os.Stat(filepath.Join(victim, p)); err != nil {
			t.Errorf("clean followed the symlink and removed %s", p)
		}
	}
}

// TestCleanRunSparesKeptCells: resuming a run removes its own leftover
// namespaces but not its kept cells' (row 8).
func TestCleanRunSparesKeptCells(t *testing.T) {
	f := newFakeHost(t, "lab-aaaaaa-3-h-node1", "lab-aaaaaa-4-fabric", "lab-bbbbbb-0-x")
	f.keptCell(t, "lab-aaaaaa-3", "20250101T000000Z-aaaaaa")
	r := &Run{ID: "20250101T000000Z-aaaaaa", Prefix: "lab-aaaaaa", Dir: filepath.Join(f.root, "aaaaaa")}
	if _, err := f.cleanRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.deleted, " ") != "lab-aaaaaa-4-fabric" {
		t.Errorf("deleted %v", f.deleted)
	}
}

// TestRunsStartDuringClean is the regression test of row 7's "2/40 new
// runs fail to start": 40 runs start while clean loops over the same state
// root; every run starts, and clean never removes a live run's state.
func TestRunsStartDuringClean(t *testing.T) {
	f := newFakeHost(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				f.clean(context.Background(), CleanOptions{})
			}
		}
	}()
	errs := make(chan error, 40)
	runs := make(chan *Run, 40)
	for i := 0; i < 40; i++ {
		go func(i int) {
			r, err := openRunIn(f.root, "20250101T000000Z-"+fmt.Sprintf("%06x", i))
			if err == nil {
				if _, live := owner(r.Dir); !live {
					err = fmt.Errorf("run %d: state without a live owner right after start", i)
				}
			}
			errs <- err
			runs <- r
		}(i)
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(stop)
	<-done
	for i := 0; i < 40; i++ {
		if r := <-runs; r != nil {
			if _, err := os.Stat(filepath.Join(r.Dir, "owner")); err != nil {
				t.Errorf("clean removed live run %s's state", r.ID)
			}
			r.Close()
		}
	}
}
