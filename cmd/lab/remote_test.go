package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoteBadInput: an unknown remote, a remote with another provider
// and a remote that does not answer are one-line exit-2 errors naming the
// fix, before anything boots.
func TestRemoteBadInput(t *testing.T) {
	conf := t.TempDir()
	t.Setenv("LXD_CONF", conf)
	t.Setenv("LXD_GLOBAL_CONF", t.TempDir())
	yml := "remotes:\n  dead:\n    addr: https://127.0.0.1:1\n    protocol: lxd\n    auth_type: tls\n"
	for name, body := range map[string]string{"config.yml": yml, "client.crt": "x", "client.key": "x", "servercerts/dead.crt": "x"} {
		p := filepath.Join(conf, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "dnat-stop-start", "--provider", "lxd", "--remote", "nope"}, `no LXD remote "nope" in ` + filepath.Join(conf, "config.yml") + " (known: dead)"},
		{[]string{"run", "dnat-stop-start", "--remote", "dead"}, "--remote dead applies to the lxd provider alone (got --provider [netns])"},
		{[]string{"matrix", "--provider", "netns", "--provider", "lxd", "--remote", "dead"}, "applies to the lxd provider alone"},
		{[]string{"run", "dnat-stop-start", "--provider", "lxd", "--remote", "dead"}, "provider lxd unavailable: remote dead does not answer"},
		{[]string{"clean", "--remote", "nope"}, `no LXD remote "nope"`},
	} {
		code, _, stderr := lab(tc.args...)
		if got := strings.TrimSpace(stderr); code != exitUsage || !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
			t.Errorf("lab %v: exit %d, stderr %q; want exit 2 and one line containing %q", tc.args, code, stderr, tc.want)
		}
	}
}
