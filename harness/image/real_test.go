package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
)

// logWriter sends progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestBuildDebianBullseyeForReal builds the repository's debian-bullseye
// recipe into the default image root, which `lab images` shares: the first
// run on a machine builds it (about a minute here), later runs reuse it.
func TestBuildDebianBullseyeForReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("builds a node image with debootstrap and chroot: needs root (run `make test` as root)")
	}
	if err := Check(); err != nil {
		t.Fatalf("%v", err)
	}
	r, err := Load("../../images/recipes", "debian-bullseye")
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{Root: DefaultRoot}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t0 := time.Now()
	m, err := s.Build(ctx, r, Chroot{Runner: execx.Host{}}, logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build or reuse took %s", time.Since(t0).Round(time.Millisecond))
	ver := regexp.MustCompile(`^\d+\.\d+(\.\d+)*$`)
	for _, tool := range Tools() {
		v := m.Versions[tool.Name]
		if !ver.MatchString(v.Version) {
			t.Errorf("%s: measured version %q (output %q) is not a version", tool.Name, v.Version, v.Output)
		}
		t.Logf("%s: %s (%s)", tool.Name, v.Version, v.Output)
	}
	if got, ok := s.Get(r); !ok || got.Dir != m.Dir {
		t.Errorf("the built image is not listed as ready")
	}
	host, err := os.ReadFile(filepath.Join(m.Dir, RootfsDir, "etc", "hostname"))
	if err != nil || string(host) != "node\n" {
		t.Errorf("setup file: %q %v", host, err)
	}
	f, err := os.Open(filepath.Join(m.Dir, m.Tarball))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	if fp := "sha256:" + hex.EncodeToString(h.Sum(nil)); fp != m.Fingerprint {
		t.Errorf("tarball fingerprint %s, metadata says %s", fp, m.Fingerprint)
	}
}
