package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodRecipe = `description: test
suite: bookworm
packages: [iproute2, nftables]
apt_packages: [firewalld]
setup:
  files:
    - path: /etc/hostname
      content: "node\n"
  run:
    - apt-get clean
`

func TestRepositoryRecipesLoad(t *testing.T) {
	rs, err := LoadAll("../../images/recipes")
	if err != nil {
		t.Fatal(err)
	}
	suites := map[string]bool{}
	for _, r := range rs {
		suites[r.Suite] = true
		if !contains(r.AptPackages, "firewalld") || !contains(r.Packages, "iptables") {
			t.Errorf("%s: nodes need iptables and firewalld: %+v", r.Name, r)
		}
	}
	for _, s := range Suites() {
		if !suites[s] {
			t.Errorf("no recipe for suite %s", s)
		}
	}
}

func TestParseErrorsHaveFileAndLine(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown-key":  {"suite: bookworm\npackges: [a]\n", "x.yaml:2: field packges not found"},
		"nested-key":   {"suite: bookworm\nsetup:\n  files:\n    - path: /a\n      contnet: x\n", "x.yaml:5: field contnet not found"},
		"bad-suite":    {"description: d\nsuite: buster\n", `x.yaml:2: suite: "buster" is not one of bullseye, bookworm, trixie`},
		"no-suite":     {"packages: [a]\n", "x.yaml:1: suite: missing"},
		"bad-package":  {"suite: trixie\npackages:\n  - iproute2\n  - 'a,b'\n", `x.yaml:4: packages: "a,b" is not a Debian package name`},
		"bad-apt":      {"suite: trixie\napt_packages: [\"--force\"]\n", `x.yaml:2: apt_packages: "--force" is not a Debian package name`},
		"relative":     {"suite: trixie\nsetup:\n  files:\n    - path: etc/x\n", `x.yaml:4: setup.files: path "etc/x" must be absolute`},
		"dotdot":       {"suite: trixie\nsetup:\n  files:\n    - {path: /etc/../../x}\n", `x.yaml:4: setup.files: path "/etc/../../x"`},
		"bad-mode":     {"suite: trixie\nsetup:\n  files:\n    - path: /x\n      mode: rwx\n", `x.yaml:5: setup.files: mode "rwx"`},
		"empty-run":    {"suite: trixie\nsetup:\n  run:\n    - ok\n    - ' '\n", "x.yaml:5: setup.run: empty command"},
		"bad-yaml":     {"suite: [\n", "x.yaml"},
		"wrong-type":   {"suite: trixie\npackages: iproute2\n", "x.yaml:2: cannot unmarshal !!str `iproute2` into []string"},
		"duplicate":    {"suite: trixie\nsuite: bookworm\n", `x.yaml:2: mapping key "suite" already defined`},
		"list-as-text": {"suite: trixie\nsetup: {run: [[a]]}\n", "x.yaml:2:"},
	} {
		_, err := Parse("dir/x.yaml", []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "image.") {
			t.Errorf("%s: error leaks Go type names: %v", name, err)
		}
	}
}

func TestLoadUnknownAndBadNames(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "debian-a.yaml"), []byte(goodRecipe), 0o644)
	os.WriteFile(filepath.Join(dir, "Bad_Name.yaml"), []byte(goodRecipe), 0o644)
	for _, n := range []string{"nope", "../debian-a", "debian-a/", ""} {
		var nf *NotFoundError
		if _, err := Load(dir, n); !errors.As(err, &nf) || !strings.Contains(err.Error(), "recipes: Bad_Name, debian-a") {
			t.Errorf("Load(%q): %v, want unknown image listing the recipes", n, err)
		}
	}
	if _, err := Load(dir, "debian-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAll(dir); err == nil || !strings.Contains(err.Error(), "Bad_Name.yaml: ") {
		t.Errorf("a recipe file with a bad name must be an error naming it: %v", err)
	}
}

func TestHashStableAndSensitive(t *testing.T) {
	base, err := Parse("r/debian-a.yaml", []byte(goodRecipe))
	if err != nil {
		t.Fatal(err)
	}
	h := base.Hash()
	if len(h) != 64 || base.DirName() != "debian-a-"+h[:12] {
		t.Fatalf("hash %q dir %q", h, base.DirName())
	}
	// Same recipe written differently: comments, flow style, key order,
	// package order and duplicates, an explicit default mode, description.
	same := `# a comment
setup: {run: [apt-get clean], files: [{content: "node\n", path: /etc/hostname, mode: "644"}]}
apt_packages: [firewalld, firewalld]
packages: [nftables, iproute2]
suite: bookworm
description: another description
`
	if r, err := Parse("elsewhere/debian-a.yaml", []byte(same)); err != nil || r.Hash() != h {
		t.Errorf("equivalent recipe hashes differently (%v):\n%s\n%s", err, h, r.Hash())
	}
	for name, edit := range map[string]func(string) string{
		"suite":       func(s string) string { return strings.Replace(s, "bookworm", "trixie", 1) },
		"package":     func(s string) string { return strings.Replace(s, "nftables]", "nftables, procps]", 1) },
		"apt package": func(s string) string { return strings.Replace(s, "[firewalld]", "[firewalld, dbus]", 1) },
		"moved pkg": func(s string) string {
			return strings.Replace(s, ", nftables]", "]", 1) + "apt_packages: [firewalld, nftables]\n"
		},
		"content":   func(s string) string { return strings.Replace(s, `"node\n"`, `"node2\n"`, 1) },
		"mode":      func(s string) string { return strings.Replace(s, `"node\n"`, `"node\n"`+"\n      mode: \"0600\"", 1) },
		"path":      func(s string) string { return strings.Replace(s, "/etc/hostname", "/etc/hostname2", 1) },
		"command":   func(s string) string { return strings.Replace(s, "apt-get clean", "apt-get  clean", 1) },
		"cmd order": func(s string) string { return s + "    - true\n" },
	} {
		body := edit(goodRecipe)
		if name == "moved pkg" {
			body = strings.Replace(strings.Replace(goodRecipe, ", nftables]", "]", 1), "[firewalld]", "[firewalld, nftables]", 1)
		}
		r, err := Parse("r/debian-a.yaml", []byte(body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.Hash() == h {
			t.Errorf("%s: changing it does not change the hash", name)
		}
	}
	if r, _ := Parse("r/debian-b.yaml", []byte(goodRecipe)); r.DirName() == base.DirName() {
		t.Errorf("two recipe names share a directory")
	}
}

func TestParseVersion(t *testing.T) {
	for out, want := range map[string]string{
		"iptables v1.8.7 (legacy)":                 "1.8.7",
		"iptables v1.8.11 (nf_tables)":             "1.8.11",
		"nftables v1.0.6 (Lester Gooch #5)":        "1.0.6",
		"ip utility, iproute2-6.1.0, libbpf 1.1.0": "6.1.0",
		"2.3.1":                                "2.3.1",
		"Error: DBUS_ERROR: Failed to connect": "",
	} {
		if got := ParseVersion(out); got != want {
			t.Errorf("ParseVersion(%q) = %q, want %q", out, got, want)
		}
	}
}
