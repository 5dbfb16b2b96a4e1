package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// DefaultRoot is where the lab keeps node images unless told otherwise; the
// CLI and `make test` share it, so an image is built once per machine.
const DefaultRoot = "/var/lib/lab/images"

// States of an image directory.
const (
	// StateReady: every stage finished; the image can be used.
	StateReady = "ready"
	// StateBuilding: a build holds the directory's lock right now.
	StateBuilding = "building"
	// StateIncomplete: a build stopped halfway; `lab images build` resumes it.
	StateIncomplete = "incomplete"
)

const (
	metaFile = "image.json"
	lockFile = ".lock"
	// RootfsDir is the rootfs directory inside an image directory.
	RootfsDir = "rootfs"
)

var dirRE = regexp.MustCompile(`^([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)-([0-9a-f]{12})$`)

// Image is an image's metadata, image.json in its directory.
type Image struct {
	Name  string `json:"name"`
	Hash  string `json:"hash"`
	Suite string `json:"suite"`
	// State is "building" until every stage finished, then "ready".
	State string `json:"state"`
	// Recipe is the normalised recipe the image was built from.
	Recipe Recipe `json:"recipe"`
	// Stages lists the finished stages, in order.
	Stages []StageRecord `json:"stages"`
	// Tarball is the exported rootfs (an uncompressed tar) in the image
	// directory, for `docker import` and LXD.
	Tarball string `json:"tarball,omitempty"`
	// Fingerprint is "sha256:" and the hex digest of Tarball: the layer
	// digest `docker import` reports for it.
	Fingerprint  string `json:"fingerprint,omitempty"`
	TarballBytes int64  `json:"tarball_bytes,omitempty"`
	// TarballZstd is a zstd-compressed copy, written when zstd is installed.
	TarballZstd string `json:"tarball_zstd,omitempty"`
	ZstdBytes   int64  `json:"zstd_bytes,omitempty"`
	RootfsBytes int64  `json:"rootfs_bytes,omitempty"`
	// Versions are the tools' versions measured inside the rootfs, by tool
	// (see Tools).
	Versions map[string]Tool `json:"versions,omitempty"`
	// Dir is the image directory (not stored).
	Dir string `json:"-"`
}

// StageRecord is one finished build stage.
type StageRecord struct {
	Name     string    `json:"name"`
	Seconds  float64   `json:"seconds"`
	Finished time.Time `json:"finished"`
}

// Entry is one image directory found under the root.
type Entry struct {
	Image
	// State is StateReady, StateBuilding or StateIncomplete.
	State string `json:"-"`
	// Next is the stage an incomplete build resumes at.
	Next string `json:"-"`
}

// Store is an image root: one directory per image, NAME-HASH12, holding
// rootfs/, the tarball, image.json and a lock.
type Store struct {
	Root string
}

// Dir is the directory of the recipe's image.
func (s *Store) Dir(r *Recipe) string { return filepath.Join(s.Root, r.DirName()) }

// Get returns the recipe's image if it is ready.
func (s *Store) Get(r *Recipe) (*Image, bool) {
	m, err := readMeta(s.Dir(r))
	if err != nil || m.State != StateReady || m.Hash != r.Hash() {
		return nil, false
	}
	return m, true
}

// List returns every image directory under the root, sorted by name. A
// directory with no finished build is never StateReady.
func (s *Store) List() ([]Entry, error) {
	des, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		m := dirRE.FindStringSubmatch(de.Name())
		if m == nil || de.Type()&os.ModeType != os.ModeDir {
			continue
		}
		dir := filepath.Join(s.Root, de.Name())
		e := Entry{Image: Image{Name: m[1], Hash: m[2], Dir: dir}}
		if meta, err := readMeta(dir); err == nil && meta.Name == m[1] && strings.HasPrefix(meta.Hash, m[2]) {
			e.Image = *meta
		}
		switch {
		case e.Image.State == StateReady:
			e.State = StateReady
		case locked(dir):
			e.State = StateBuilding
		default:
			e.State = StateIncomplete
		}
		if e.State != StateReady {
			e.Next = nextStage(&e.Image)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

// Remove removes the images of name: every version of an image NAME, or the
// one directory NAME-HASH12. It refuses anything that is not an image name,
// an image being built, a directory that is a symlink or has a mount under
// it; it never follows symlinks inside the image. It returns the removed
// directories.
func (s *Store) Remove(name string) ([]string, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%q is not an image name", name)
	}
	entries, err := s.List()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if e.Name == name || filepath.Base(e.Dir) == name {
			dirs = append(dirs, e.Dir)
		}
	}
	if len(dirs) == 0 {
		return nil, &NotBuiltError{Name: name}
	}
	var removed []string
	for _, dir := range dirs {
		l, err := tryLock(dir)
		if err != nil {
			return removed, fmt.Errorf("remove %s: %w", dir, err)
		}
		err = removeTree(s.Root, dir)
		l.unlock()
		if err != nil {
			return removed, err
		}
		removed = append(removed, dir)
	}
	return removed, nil
}

// NotBuiltError is returned when no image directory has that name.
type NotBuiltError struct{ Name string }

// Error names the image and where to look.
func (e *NotBuiltError) Error() string {
	return fmt.Sprintf("no image %q under the image root (see `lab images list`)", e.Name)
}

// removeTree removes dir, which must be a real directory directly under
// root (or under one of root's image directories), with no mount point at
// or below it. os.RemoveAll does not follow symlinks below dir.
func removeTree(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return fmt.Errorf("refusing to remove %s: not inside the image root %s", dir, root)
	}
	if !dirRE.MatchString(strings.Split(rel, string(filepath.Separator))[0]) {
		return fmt.Errorf("refusing to remove %s: not an image directory", dir)
	}
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("refusing to remove %s: not a directory (a symlink?)", dir)
	}
	if mp, err := mountUnder(dir); err != nil {
		return err
	} else if mp != "" {
		return fmt.Errorf("refusing to remove %s: %s is mounted (umount it first)", dir, mp)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// mountUnder returns a mount point at or below dir, or "".
func mountUnder(dir string) (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		real = dir
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		for _, d := range []string{dir, real} {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				return mp, nil
			}
		}
	}
	return "", nil
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readMeta(dir string) (*Image, error) {
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	var m Image
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, metaFile), err)
	}
	m.Dir = dir
	return &m, nil
}

// writeMeta writes image.json atomically (temp file + rename).
func writeMeta(m *Image) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(m.Dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(m.Dir, metaFile))
}

// lock is an flock(2) on an image directory's lock file.
type lock struct{ f *os.File }

func openLock(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
}

// tryLock takes the lock or fails at once when a build holds it.
func tryLock(dir string) (*lock, error) {
	f, err := openLock(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, errors.New("a build is running on it (lock held)")
	}
	return &lock{f}, nil
}

func (l *lock) unlock() { l.f.Close() }

// locked reports whether a build holds dir's lock.
func locked(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	return false
}
