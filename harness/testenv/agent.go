package testenv

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/locate"
)

// agentBuild builds the static agent once per test binary.
type agentBuild struct {
	once sync.Once
	path string
	err  error
}

// agents is the one build per test process, shared by its tests (like
// the plugins and library Prereqs builds).
var agents agentBuild

// Agent returns a static lab binary (bin/lab, CGO_ENABLED=0, as `make
// build` makes it) to push into nodes whose userspace is not the host's: a
// test binary is dynamically linked against the host's libc. It is built
// when missing or older than a Go source file or go.mod of the checkout.
func Agent(t testing.TB) string {
	t.Helper()
	agents.once.Do(func() { agents.path, agents.err = buildAgent(context.Background()) })
	if agents.err != nil {
		t.Fatalf("build the static agent: %v", agents.err)
	}
	return agents.path
}

func buildAgent(ctx context.Context) (string, error) {
	root, err := locate.Root()
	if err != nil {
		return "", err
	}
	out := filepath.Join(root, "bin", "lab")
	if st, err := os.Stat(out); err == nil && !newerSource(root, st.ModTime()) {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	// Build beside it and rename: concurrent test binaries may build too.
	tmp := out + ".tmp-" + filepath.Base(os.Args[0])
	env := append(os.Environ(), "CGO_ENABLED=0")
	if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: []string{"go", "build", "-C", root, "-o", tmp, "./cmd/lab"}, Env: env}); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}

// newerSource reports whether a .go file or go.mod under root changed after t.
func newerSource(root string, t time.Time) bool {
	newer := false
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if newer {
			return fs.SkipAll
		}
		if err != nil {
			return nil
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "reports") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || d.Name() == "go.mod") {
			if info, err := d.Info(); err == nil && info.ModTime().After(t) {
				newer = true
			}
		}
		return nil
	})
	return newer
}

// StaticAgent is Agent (the name the LXD provider's tests use).
func StaticAgent(t testing.TB) string { t.Helper(); return Agent(t) }
