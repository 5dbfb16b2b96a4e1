package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fake is a recording Builder: it writes marker files instead of running
// debootstrap and fails (like an interruption) at failAt.
type fake struct {
	t      *testing.T
	calls  []string
	failAt string
	// block makes the stage wait for the context to end (Ctrl-C).
	block string
}

var errInterrupted = errors.New("interrupted")

func (f *fake) stage(ctx context.Context, name string, j *Job) error {
	f.calls = append(f.calls, name)
	if name == f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if name == f.failAt {
		// Leave half a stage behind, as a killed build would.
		os.MkdirAll(j.Rootfs, 0o755)
		os.WriteFile(filepath.Join(j.Rootfs, "half-"+name), nil, 0o644)
		return errInterrupted
	}
	return nil
}

func (f *fake) Debootstrap(ctx context.Context, j *Job) error {
	if _, err := os.Lstat(j.Rootfs); err == nil {
		f.t.Errorf("debootstrap starts on a leftover rootfs")
	}
	if err := f.stage(ctx, StageDebootstrap, j); err != nil {
		return err
	}
	os.MkdirAll(filepath.Join(j.Rootfs, "etc"), 0o755)
	return os.WriteFile(filepath.Join(j.Rootfs, "etc", "debian_version"), []byte(j.Recipe.Suite), 0o644)
}
func (f *fake) Apt(ctx context.Context, j *Job) error   { return f.stage(ctx, StageApt, j) }
func (f *fake) Setup(ctx context.Context, j *Job) error { return f.stage(ctx, StageSetup, j) }
func (f *fake) Measure(ctx context.Context, j *Job) (map[string]Tool, error) {
	if err := f.stage(ctx, StageMeasure, j); err != nil {
		return nil, err
	}
	return map[string]Tool{"nft": {Command: "nft -v", Output: "nftables v1.0.6", Version: "1.0.6"}}, nil
}
func (f *fake) Export(ctx context.Context, j *Job) (Artifact, error) {
	if err := f.stage(ctx, StageExport, j); err != nil {
		return Artifact{}, err
	}
	os.WriteFile(filepath.Join(j.Dir, "rootfs.tar"), []byte("tar"), 0o644)
	return Artifact{File: "rootfs.tar", Fingerprint: "sha256:abc", Bytes: 3, RootfsBytes: 10}, nil
}

func recipe(t *testing.T, name, body string) *Recipe {
	t.Helper()
	r, err := Parse(name+".yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBuildRunsStagesThenIsCached(t *testing.T) {
	s := &Store{Root: filepath.Join(t.TempDir(), "images")}
	r := recipe(t, "debian-a", goodRecipe)
	f := &fake{t: t}
	var log bytes.Buffer
	m, err := s.Build(context.Background(), r, f, &log)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Stages(), f.calls); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	if m.State != StateReady || m.Fingerprint != "sha256:abc" || m.Versions["nft"].Version != "1.0.6" || len(m.Stages) != 5 {
		t.Errorf("metadata: %+v", m)
	}
	for _, want := range []string{"image debian-a-" + r.Hash()[:12] + ": [1/5] debootstrap: debootstrap --variant=minbase bookworm (+2 packages)", "[5/5] export done in", ": ready in"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, log.String())
		}
	}
	f.calls = nil
	log.Reset()
	if _, err := s.Build(context.Background(), r, f, &log); err != nil || len(f.calls) != 0 || !strings.Contains(log.String(), "ready (cached") {
		t.Errorf("second build must reuse the image: err %v, calls %v, log %q", err, f.calls, log.String())
	}
	if got, ok := s.Get(r); !ok || got.Dir != s.Dir(r) {
		t.Errorf("Get: %v %v", got, ok)
	}
}

func TestInterruptedBuildResumesAtItsStage(t *testing.T) {
	for _, stop := range Stages() {
		t.Run(stop, func(t *testing.T) {
			s := &Store{Root: t.TempDir()}
			r := recipe(t, "debian-a", goodRecipe)
			f := &fake{t: t, failAt: stop}
			var log bytes.Buffer
			if _, err := s.Build(context.Background(), r, f, &log); !errors.Is(err, errInterrupted) || !strings.Contains(err.Error(), "stage "+stop) || !strings.Contains(err.Error(), "lab images build debian-a") {
				t.Fatalf("interrupted build: %v", err)
			}
			if _, ok := s.Get(r); ok {
				t.Fatalf("a half-built image is ready")
			}
			es, err := s.List()
			if err != nil || len(es) != 1 || es[0].State != StateIncomplete || es[0].Next != stop {
				t.Fatalf("list after interruption at %s: %+v %v", stop, es, err)
			}
			f.failAt, f.calls = "", nil
			log.Reset()
			m, err := s.Build(context.Background(), r, f, &log)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i, st := range Stages() {
				if st == stop {
					want = Stages()[i:]
				}
			}
			if diff := cmp.Diff(want, f.calls); diff != "" {
				t.Errorf("resumed stages (-want +got):\n%s", diff)
			}
			if stop != StageDebootstrap && !strings.Contains(log.String(), "resuming at stage "+stop) {
				t.Errorf("no resume line:\n%s", log.String())
			}
			_, half := os.Stat(filepath.Join(m.Dir, RootfsDir, "half-debootstrap"))
			if m.State != StateReady || half == nil {
				t.Errorf("state %s; a half debootstrap must be redone from scratch (leftover: %v)", m.State, half == nil)
			}
		})
	}
}

func TestCancelledBuildResumes(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	r := recipe(t, "debian-a", goodRecipe)
	f := &fake{t: t, block: StageSetup}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := s.Build(ctx, r, f, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build: %v", err)
	}
	f.block, f.calls = "", nil
	if _, err := s.Build(context.Background(), r, f, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{StageSetup, StageMeasure, StageExport}, f.calls); diff != "" {
		t.Errorf("resumed stages (-want +got):\n%s", diff)
	}
}

func TestBuildWaitsForALockedImage(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	r := recipe(t, "debian-a", goodRecipe)
	os.MkdirAll(s.Dir(r), 0o755)
	l, err := tryLock(s.Dir(r))
	if err != nil {
		t.Fatal(err)
	}
	defer l.unlock()
	es, _ := s.List()
	if len(es) != 1 || es[0].State != StateBuilding {
		t.Errorf("a locked image is listed as %+v, want building", es)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	var log bytes.Buffer
	f := &fake{t: t}
	if _, err := s.Build(ctx, r, f, &log); !errors.Is(err, context.DeadlineExceeded) || len(f.calls) != 0 {
		t.Errorf("build beside a running build: %v, calls %v", err, f.calls)
	}
	if !strings.Contains(log.String(), "waiting for another build") {
		t.Errorf("no waiting line: %q", log.String())
	}
	if _, err := s.Remove("debian-a"); err == nil || !strings.Contains(err.Error(), "lock held") {
		t.Errorf("rm of an image being built: %v", err)
	}
}

func TestChangedRecipeIsANewImage(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	f := &fake{t: t}
	a := recipe(t, "debian-a", goodRecipe)
	b := recipe(t, "debian-a", strings.Replace(goodRecipe, "bookworm", "trixie", 1))
	for _, r := range []*Recipe{a, b} {
		if _, err := s.Build(context.Background(), r, f, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
	}
	es, _ := s.List()
	if len(es) != 2 || es[0].Hash == es[1].Hash || es[0].State != StateReady || es[1].State != StateReady {
		t.Errorf("two versions expected: %+v", es)
	}
	if len(f.calls) != 10 {
		t.Errorf("a changed recipe must be built anew: %v", f.calls)
	}
}
