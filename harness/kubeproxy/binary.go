package kubeproxy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"lab/harness/execx"
	"lab/harness/locate"
)

// BinaryName is the binary's file name under bin/kube-proxy/VERSION/.
const BinaryName = "kube-proxy"

// ModuleDir returns the module (relative to the repository root) that
// builds Kubernetes version (vX.Y.Z): k8s-vX.Y, whose go.mod must require
// exactly that k8s.io/kubernetes release.
func ModuleDir(root, version string) (string, error) {
	m := regexp.MustCompile(`^(v[0-9]+\.[0-9]+)\.[0-9]+$`).FindStringSubmatch(version)
	if m == nil {
		return "", fmt.Errorf("kube-proxy: %q is not a Kubernetes release like v1.32.2", version)
	}
	dir := filepath.Join(root, "harness", "kubeproxy", "k8s-"+m[1])
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("kube-proxy %s: no module builds Kubernetes %s (%w); add harness/kubeproxy/k8s-%s", version, m[1], err, m[1])
	}
	if !strings.Contains(string(gomod), "k8s.io/kubernetes "+version+"\n") {
		return "", fmt.Errorf("kube-proxy %s: %s/go.mod pins another %s patch release", version, dir, m[1])
	}
	return dir, nil
}

// Dir locates the directory of the built binaries (VERSION/kube-proxy
// under it): $LAB_KUBE_PROXY_PATH, kube-proxy/ next to the lab binary, or
// bin/kube-proxy in the repository.
func Dir() (string, error) {
	return locate.Path("LAB_KUBE_PROXY_PATH", "bin/kube-proxy", "kube-proxy")
}

// Binary returns dir/version/kube-proxy after checking it is built.
func Binary(dir, version string) (string, error) {
	if version == "" {
		return "", fmt.Errorf("kube-proxy: the profile pins no Kubernetes release (microk8s.kubernetes)")
	}
	p := filepath.Join(dir, version, BinaryName)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("kube-proxy %s not built (%s missing); run `make kube-proxy`", version, p)
	}
	return p, nil
}

// Build compiles Kubernetes version's kube-proxy into dir/version/ from
// its module, statically, as `make kube-proxy` does (minutes when cold).
func Build(ctx context.Context, root, dir, version string) error {
	mod, err := ModuleDir(root, version)
	if err != nil {
		return err
	}
	out := filepath.Join(dir, version, BinaryName)
	argv := []string{"go", "build", "-C", mod, "-trimpath", "-ldflags=-s -w", "-o", out, "."}
	_, err = execx.Host{}.Run(ctx, execx.Cmd{Argv: argv, Env: append(os.Environ(), "CGO_ENABLED=0")})
	return err
}

// Versions lists the Kubernetes releases the repository's kube-proxy
// modules build (each harness/kubeproxy/k8s-vX.Y/go.mod pins one).
func Versions(root string) []string {
	mods, _ := filepath.Glob(filepath.Join(root, "harness", "kubeproxy", "k8s-v*", "go.mod"))
	re := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes (v[0-9]+\.[0-9]+\.[0-9]+)\s*$|^require k8s\.io/kubernetes (v[0-9.]+)\s*$`)
	var out []string
	for _, m := range mods {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		for _, g := range re.FindAllStringSubmatch(string(b), 1) {
			out = append(out, g[1]+g[2])
		}
	}
	sort.Strings(out)
	return out
}
