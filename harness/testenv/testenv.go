// Package testenv prepares what tests that touch the kernel need: root, the
// pinned CNI plugins and the kernel-profile library (built into bin/ on first
// use with the go tool and gcc, exactly as `make build` does).
package testenv

import (
	"context"
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
