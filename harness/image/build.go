package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Stage names, in build order. A build resumes at the first stage that has
// not finished; a stage that was interrupted runs again from its start.
const (
	StageDebootstrap = "debootstrap"
	StageApt         = "apt"
	StageSetup       = "setup"
	StageMeasure     = "measure"
	StageExport      = "export"
)

// Stages lists the stage names in build order.
func Stages() []string {
	return []string{StageDebootstrap, StageApt, StageSetup, StageMeasure, StageExport}
}

// Job is what a builder works on: one recipe, one image directory.
type Job struct {
	Recipe *Recipe
	// Dir is the image directory; Rootfs is Dir/rootfs.
	Dir, Rootfs string
	// Root is the image root, the limit of every write and removal.
	Root string
}

// Artifact is what the export stage produced.
type Artifact struct {
	// File is the (uncompressed) tarball's name in the image directory.
	File string
	// Fingerprint is "sha256:HEX" of File.
	Fingerprint string
	Bytes       int64
	// Zstd is the zstd-compressed copy's name, if zstd was installed.
	Zstd        string
	ZstdBytes   int64
	RootfsBytes int64
}

// Builder does the work of each stage. Chroot is the real one; tests use a
// recording fake. Each method must be safe to call again after it was
// interrupted.
type Builder interface {
	// Debootstrap makes j.Rootfs with debootstrap (it is absent or removed).
	Debootstrap(ctx context.Context, j *Job) error
	// Apt installs the recipe's apt packages in the chroot.
	Apt(ctx context.Context, j *Job) error
	// Setup writes the recipe's files and runs its commands.
	Setup(ctx context.Context, j *Job) error
	// Measure reads the tools' versions inside the rootfs.
	Measure(ctx context.Context, j *Job) (map[string]Tool, error)
	// Export writes the rootfs tarball into j.Dir.
	Export(ctx context.Context, j *Job) (Artifact, error)
}

// Build builds the recipe's image under the store's root with b, or returns
// it at once when it is already ready. It takes the image's lock (waiting for
// another build of the same image), resumes an interrupted build at the
// first unfinished stage, and writes progress lines (stage, elapsed) to log.
func (s *Store) Build(ctx context.Context, r *Recipe, b Builder, log io.Writer) (*Image, error) {
	dir := s.Dir(r)
	tag := "image " + filepath.Base(dir)
	if m, ok := s.Get(r); ok {
		fmt.Fprintf(log, "%s: ready (cached, %s)\n", tag, m.Fingerprint)
		return m, nil
	}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	l, err := lockCtx(ctx, dir, func() { fmt.Fprintf(log, "%s: waiting for another build of it to finish\n", tag) })
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	m, err := readMeta(dir)
	if err != nil || m.Hash != r.Hash() {
		n := r.Normalised()
		m = &Image{Name: r.Name, Hash: r.Hash(), Suite: r.Suite, State: StateBuilding, Recipe: n, Dir: dir}
		if err := writeMeta(m); err != nil {
			return nil, err
		}
	}
	if m.State == StateReady {
		fmt.Fprintf(log, "%s: ready (built by another process, %s)\n", tag, m.Fingerprint)
		return m, nil
	}
	j := &Job{Recipe: r, Dir: dir, Rootfs: filepath.Join(dir, RootfsDir), Root: s.Root}
	start := time.Now()
	if len(m.Stages) > 0 {
		fmt.Fprintf(log, "%s: resuming at stage %s (%d of %d stages done)\n", tag, nextStage(m), len(m.Stages), len(Stages()))
	}
	for i, st := range Stages() {
		if done(m, st) {
			continue
		}
		if st == StageDebootstrap {
			// A half-made rootfs is never trusted: start it again.
			if err := removeTree(s.Root, j.Rootfs); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(log, "%s: [%d/%d] %s: %s\n", tag, i+1, len(Stages()), st, describe(st, r))
		t0 := time.Now()
		err := runStage(ctx, st, b, j, m, func(d time.Duration) {
			fmt.Fprintf(log, "%s: [%d/%d] %s: %s elapsed\n", tag, i+1, len(Stages()), st, d.Round(time.Second))
		})
		if err != nil {
			hint := "lab images build " + r.Name
			if s.Root != DefaultRoot {
				hint += " --root " + s.Root
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: stage %s interrupted (%w); run `%s` to resume", tag, st, ctx.Err(), hint)
			}
			return nil, fmt.Errorf("%s: stage %s: %w (run `%s` again to resume)", tag, st, err, hint)
		}
		el := time.Since(t0)
		m.Stages = append(m.Stages, StageRecord{Name: st, Seconds: el.Seconds(), Finished: time.Now().UTC()})
		if err := writeMeta(m); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "%s: [%d/%d] %s done in %s\n", tag, i+1, len(Stages()), st, el.Round(100*time.Millisecond))
	}
	m.State = StateReady
	if err := writeMeta(m); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: ready in %s (%s, %s)\n", tag, time.Since(start).Round(time.Second), m.Tarball, m.Fingerprint)
	return m, nil
}

// tickEvery is how often a running stage reports its elapsed time.
const tickEvery = 30 * time.Second

// runStage runs one stage, reporting elapsed time every tickEvery.
func runStage(ctx context.Context, st string, b Builder, j *Job, m *Image, tick func(time.Duration)) error {
	t0 := time.Now()
	stop, exited := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-exited }()
	go func() {
		defer close(exited)
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				tick(time.Since(t0))
			}
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	switch st {
	case StageDebootstrap:
		return b.Debootstrap(ctx, j)
	case StageApt:
		return b.Apt(ctx, j)
	case StageSetup:
		return b.Setup(ctx, j)
	case StageMeasure:
		v, err := b.Measure(ctx, j)
		if err != nil {
			return err
		}
		m.Versions = v
		return nil
	case StageExport:
		a, err := b.Export(ctx, j)
		if err != nil {
			return err
		}
		m.Tarball, m.Fingerprint, m.TarballBytes = a.File, a.Fingerprint, a.Bytes
		m.TarballZstd, m.ZstdBytes, m.RootfsBytes = a.Zstd, a.ZstdBytes, a.RootfsBytes
		return nil
	}
	return fmt.Errorf("unknown stage %q", st)
}

func describe(st string, r *Recipe) string {
	switch st {
	case StageDebootstrap:
		return fmt.Sprintf("debootstrap --variant=minbase %s (+%d packages)", r.Suite, len(r.Packages))
	case StageApt:
		return fmt.Sprintf("apt-get install in the chroot (%d packages)", len(r.AptPackages))
	case StageSetup:
		return fmt.Sprintf("%d files, %d commands", len(r.Setup.Files), len(r.Setup.Run))
	case StageMeasure:
		return "tool versions inside the rootfs"
	case StageExport:
		return "rootfs tarball and fingerprint"
	}
	return ""
}

func done(m *Image, st string) bool {
	for _, s := range m.Stages {
		if s.Name == st {
			return true
		}
	}
	return false
}

// nextStage is the first stage m has not finished.
func nextStage(m *Image) string {
	for _, st := range Stages() {
		if !done(m, st) {
			return st
		}
	}
	return ""
}

// lockCtx takes dir's lock, polling while another build holds it, until ctx
// ends; waiting is called once when it has to wait.
func lockCtx(ctx context.Context, dir string, waiting func()) (*lock, error) {
	f, err := openLock(dir)
	if err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &lock{f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		if i == 0 {
			waiting()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
