package profile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileProfiles is the regression test of rows 14, 16 and 22 of
// issue 13: a FIFO profile, `extends` out of images/, a second YAML
// document, an issue number read as a comment.
func TestHostileProfiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "images")
	os.Mkdir(dir, 0o755)
	write(t, root, "outside", "distro: {name: evil}\n")
	write(t, dir, "escape", "extends: [../outside]\n")
	write(t, dir, "escape2", "extends: [../../x]\n")
	write(t, dir, "twodocs", "distro: {name: ubuntu}\n---\ndistro: {name: rhel}\n")
	write(t, dir, "comment", "description: stop flushes the chain #4963\n")
	write(t, dir, "quoted", "description: \"stop flushes the chain #4963\"\n")
	write(t, dir, "binary", "description: a\x00\xff\n")
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"escape":   `extends: bad profile name "../outside"`,
		"escape2":  `extends: bad profile name "../../x"`,
		"twodocs":  "line 2: a second YAML document",
		"comment":  `is cut off at "#4963", which YAML reads as a comment; quote the value`,
		"binary":   "not a UTF-8 text file",
		"fifo":     "not a regular file (a named pipe)",
		"../x":     `bad profile name "../x"`,
		"/etc/foo": `bad profile name "/etc/foo"`,
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(dir, name); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Load(%q) = %v, want one line containing %q", name, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%q) blocked", name)
		}
	}
	os.Mkdir(filepath.Join(dir, "adir.yaml"), 0o755)
	if names, _ := Names(dir); strings.Contains(strings.Join(names, " "), "adir") {
		t.Errorf("Names lists a directory: %v", names)
	}
	p, err := Load(dir, "quoted")
	if err != nil || p.Description != "stop flushes the chain #4963" {
		t.Errorf("quoted description: %+v %v", p, err)
	}
}

// FuzzLoad feeds arbitrary YAML to the profile loader (with a parent to
// extend): it must return a profile or an error, never panic or hang.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"distro: {name: ubuntu, version: \"22.04\"}\n",
		"extends: [base]\nmicrok8s: {version: \"1.32.2\", revision: 7731}\n",
		"extends: [fuzz]\n",
		"kernel:\n  missing:\n    ipv6: {targets: [MARK]}\n",
		"iptables: {mode: nft, host_forward_policy: {nft: DROP}}\n",
		"a: &x [*x]\n",
		"---\n---\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	write(f, dir, "base", "distro: {name: ubuntu}\ncni: {subnet: 10.1.0.0/16}\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "fuzz.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(dir, "fuzz")
		if err == nil && p.Name != "fuzz" {
			t.Errorf("loaded profile named %q", p.Name)
		}
		if err != nil && strings.Contains(err.Error(), "\x00") {
			t.Errorf("error echoes NUL bytes: %q", err)
		}
	})
}
