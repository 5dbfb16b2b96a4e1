// Package testenv prepares what tests that touch the kernel need: root, the
// pinned CNI plugins and the kernel-profile library (built into bin/ on first
// use with the go tool and gcc, exactly as `make build` does).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"lab/harness/netnsprov"
	"lab/harness/node"
	"lab/harness/provider"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"lab/harness/cni"
	"lab/harness/kernel"
	"lab/harness/locate"
)

var (
	once      sync.Once
	pluginDir string
	hidextLib string
	buildErr  error
)

// Root skips the test unless it runs as root (kernel tests create network
// namespaces).
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root to create network namespaces (run `make test` as root)")
	}
}

// Prereqs returns the CNI plugin directory and the kernel-profile library,
// building them into the repository's bin/ when missing.
func Prereqs(t testing.TB) (plugins, hidext string) {
	t.Helper()
	Root(t)
	once.Do(func() {
		root, err := locate.Root()
		if err != nil {
			buildErr = err
			return
		}
		ctx := context.Background()
		pluginDir = filepath.Join(root, "bin", "cni")
		if _, err := os.Stat(filepath.Join(pluginDir, "portmap")); err != nil {
			if buildErr = cni.Build(ctx, root, pluginDir); buildErr != nil {
				return
			}
		}
		hidextLib = filepath.Join(root, "bin", kernel.LibName)
		if _, err := os.Stat(hidextLib); err != nil {
			buildErr = kernel.Build(ctx, filepath.Join(root, "harness", "kernel", "hidext"), hidextLib)
		}
	})
	if buildErr != nil {
		t.Fatalf("build test prerequisites: %v", buildErr)
	}
	return pluginDir, hidextLib
}

// Env returns an empty netns-provider environment whose resources are
// named lab-test-XXXXXXXX-..., closed when the test ends; the test fails if
// anything of it is left after Close.
func Env(t testing.TB) provider.Env {
	t.Helper()
	Root(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "lab-test-" + hex.EncodeToString(b)
	p := netnsprov.New()
	env, err := p.NewEnv(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if left, _ := p.Leftovers(context.Background(), prefix); len(left) > 0 {
			t.Errorf("left after Close: %v", left)
		}
	})
	return env
}

// Node boots a node named name in a fresh Env.
func Node(t testing.TB, name string) node.Node {
	t.Helper()
	n, err := Env(t).AddNode(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
