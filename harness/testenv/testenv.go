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
	"lab/harness/kubeproxy"
	"lab/harness/locate"
)

var (
	once      sync.Once
	pluginDir string
	hidextLib string
	buildErr  error
)

// CNIVersions are the CNI plugin versions the profiles pin (the
// Makefile's CNI_VERSIONS).
var CNIVersions = []string{"v1.2.0", "v1.6.0"}

// KubeProxyVersions are the Kubernetes releases the profiles pin whose
// kube-proxy runs in a feature (the Makefile's KUBE_PROXIES).
var KubeProxyVersions = []string{"v1.29.15", "v1.32.2"}

// Root skips the test unless it runs as root (kernel tests create network
// namespaces).
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root to create network namespaces (run `make test` as root)")
	}
}

// Prereqs returns the CNI plugin directory (one subdirectory per version) and the kernel-profile library,
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
		for _, v := range CNIVersions {
			if _, err := os.Stat(filepath.Join(pluginDir, v, "portmap")); err != nil {
				if buildErr = cni.Build(ctx, root, pluginDir, v); buildErr != nil {
					return
				}
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

// KubeProxy returns the directory of the built kube-proxy binaries
// (VERSION/kube-proxy), building the versions asked for when missing, as
// `make kube-proxy` does (minutes each when the build cache is cold).
func KubeProxy(t testing.TB, versions ...string) string {
	t.Helper()
	Root(t)
	root, err := locate.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "bin", "kube-proxy")
	for _, v := range versions {
		if v == "" {
			continue
		}
		if _, err := kubeproxy.Binary(dir, v); err == nil {
			continue
		}
		t.Logf("building kube-proxy %s into %s", v, dir)
		if err := kubeproxy.Build(context.Background(), root, dir, v); err != nil {
			t.Fatalf("build kube-proxy %s: %v", v, err)
		}
	}
	return dir
}
