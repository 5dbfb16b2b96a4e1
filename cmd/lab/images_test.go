package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImagesBadInputIsOneLineExit2AndCreatesNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "images")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"images"}, "no subcommand; use build, list or rm"},
		{[]string{"images", "frob"}, `unknown subcommand "frob"`},
		{[]string{"images", "build", "nope", "--root", root}, `unknown image "nope"; recipes: debian-bookworm, debian-bullseye, debian-trixie`},
		{[]string{"images", "build", "../../etc/passwd", "--root", root}, `unknown image "../../etc/passwd"`},
		{[]string{"images", "build", "--root", "relative/dir"}, `--root "relative/dir": want an absolute directory`},
		{[]string{"images", "build", "--frob"}, "flag provided but not defined: -frob"},
		{[]string{"images", "rm", "--root", root}, "rm needs NAME"},
		{[]string{"images", "rm", "../etc", "--root", root}, `"../etc" is not an image name`},
		{[]string{"images", "rm", "debian-bullseye", "--root", root}, `no image "debian-bullseye" under the image root`},
		{[]string{"images", "list", "x", "--root", root}, "list takes no NAME"},
	} {
		code, _, stderr := lab(tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("lab %v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
	if _, err := os.Stat(root); err == nil {
		t.Errorf("bad input created %s", root)
	}
}

func TestImagesListAndHelp(t *testing.T) {
	root := filepath.Join(t.TempDir(), "images")
	code, out, stderr := lab("images", "list", "--root", root)
	if code != 0 || !strings.Contains(out, "debian-bullseye  bullseye") || !strings.Contains(out, "not built") {
		t.Errorf("list: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = lab("images", "list", "--json", "--root", root)
	if code != 0 || !strings.Contains(out, `"state": "not built"`) {
		t.Errorf("list --json: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"images", "-h"}, {"images", "build", "-h"}} {
		if code, _, _ := lab(args...); code != 0 {
			t.Errorf("lab %v: exit %d", args, code)
		}
	}
	if _, err := os.Stat(root); err == nil {
		t.Errorf("list created %s", root)
	}
	_, out, _ = lab("--help")
	if !strings.Contains(out, "images") {
		t.Errorf("--help does not list images:\n%s", out)
	}
}
