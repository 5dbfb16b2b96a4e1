package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// built makes a ready image of name in s with the fake builder.
func built(t *testing.T, s *Store, name, body string) *Image {
	t.Helper()
	m, err := s.Build(context.Background(), recipe(t, name, body), &fake{t: t}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func TestRemoveIsConfinedToImages(t *testing.T) {
	base := t.TempDir()
	s := &Store{Root: filepath.Join(base, "images")}
	a1 := built(t, s, "debian-a", goodRecipe)
	a2 := built(t, s, "debian-a", strings.Replace(goodRecipe, "bookworm", "trixie", 1))
	b := built(t, s, "debian-b", goodRecipe)

	// Outside things the image tree points at must survive.
	outside := filepath.Join(base, "precious")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "file"), []byte("keep"), 0o644)
	os.Symlink(outside, filepath.Join(a1.Dir, RootfsDir, "link-dir"))
	os.Symlink(filepath.Join(outside, "file"), filepath.Join(a1.Dir, RootfsDir, "link-file"))
	// A symlink that looks like an image directory, and a non-image dir.
	os.Symlink(outside, filepath.Join(s.Root, "debian-c-0123456789ab"))
	os.MkdirAll(filepath.Join(s.Root, "notes"), 0o755)

	for _, bad := range []string{"../precious", "/etc", "debian-a/rootfs", "", ".", "..", "Debian-A", "notes/"} {
		if _, err := s.Remove(bad); err == nil || !strings.Contains(err.Error(), "not an image name") {
			t.Errorf("Remove(%q): %v, want refused as not an image name", bad, err)
		}
	}
	for _, none := range []string{"notes", "debian-c", "debian-c-0123456789ab", "debian-z"} {
		var nb *NotBuiltError
		if _, err := s.Remove(none); !errors.As(err, &nb) {
			t.Errorf("Remove(%q): %v, want no such image", none, err)
		}
	}
	// One version by its directory name, then every version of a name.
	if got, err := s.Remove(filepath.Base(a2.Dir)); err != nil || len(got) != 1 || got[0] != a2.Dir || exists(a2.Dir) || !exists(a1.Dir) {
		t.Fatalf("Remove one version: %v %v", got, err)
	}
	if got, err := s.Remove("debian-a"); err != nil || len(got) != 1 || exists(a1.Dir) {
		t.Fatalf("Remove debian-a: %v %v", got, err)
	}
	if data, err := os.ReadFile(filepath.Join(outside, "file")); err != nil || string(data) != "keep" {
		t.Errorf("a symlink inside the image was followed: %q %v", data, err)
	}
	for _, keep := range []string{b.Dir, filepath.Join(s.Root, "notes"), filepath.Join(s.Root, "debian-c-0123456789ab")} {
		if !exists(keep) {
			t.Errorf("%s was removed", keep)
		}
	}
}

func TestRemoveTreeRefusals(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "images")
	os.MkdirAll(filepath.Join(root, "debian-a-0123456789ab", "rootfs"), 0o755)
	os.MkdirAll(filepath.Join(base, "other"), 0o755)
	for _, p := range []string{root, base, filepath.Join(base, "other"), filepath.Join(root, ".."), filepath.Join(root, "notes")} {
		if err := removeTree(root, p); err == nil {
			t.Errorf("removeTree(%s) was allowed", p)
		}
	}
	if !exists(filepath.Join(base, "other")) || !exists(root) {
		t.Fatal("removeTree removed something it refused")
	}
	if err := removeTree(root, filepath.Join(root, "debian-a-0123456789ab", "rootfs")); err != nil || exists(filepath.Join(root, "debian-a-0123456789ab", "rootfs")) {
		t.Errorf("removing a rootfs inside an image: %v", err)
	}
}

func TestRemoveRefusesMountedImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	s := &Store{Root: t.TempDir()}
	m := built(t, s, "debian-a", goodRecipe)
	proc := filepath.Join(m.Dir, RootfsDir, "proc")
	os.MkdirAll(proc, 0o755)
	if err := syscall.Mount("tmpfs", proc, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(proc, syscall.MNT_DETACH)
	os.WriteFile(filepath.Join(proc, "inside-mount"), nil, 0o644)
	if _, err := s.Remove("debian-a"); err == nil || !strings.Contains(err.Error(), "is mounted") {
		t.Errorf("Remove with a mount inside: %v", err)
	}
	if !exists(filepath.Join(proc, "inside-mount")) {
		t.Errorf("files under a mount were removed")
	}
}

func TestListNeverCallsHalfBuiltReady(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	r := recipe(t, "debian-a", goodRecipe)
	// A directory with no metadata at all (killed before the first stage
	// ended), and one with corrupt metadata.
	os.MkdirAll(s.Dir(r), 0o755)
	other := filepath.Join(s.Root, "debian-b-0123456789ab")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, metaFile), []byte(`{"state":"ready"`), 0o644)
	es, err := s.List()
	if err != nil || len(es) != 2 {
		t.Fatalf("%+v %v", es, err)
	}
	for _, e := range es {
		if e.State != StateIncomplete || e.Next != StageDebootstrap {
			t.Errorf("%s: %s next %s, want incomplete at debootstrap", e.Dir, e.State, e.Next)
		}
	}
	if _, ok := s.Get(r); ok {
		t.Error("Get returned a half-built image")
	}
	if es, err := (&Store{Root: filepath.Join(s.Root, "absent")}).List(); err != nil || len(es) != 0 {
		t.Errorf("absent root: %v %v", es, err)
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/var/lib/a\040b`); got != "/var/lib/a b" {
		t.Errorf("got %q", got)
	}
}
