package kubeproxy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestModeArgs: the flags each release needs for a mode, and the refusals.
func TestModeArgs(t *testing.T) {
	ok := []struct {
		mode, version string
		want          []string
	}{
		{"iptables", "v1.28.15", nil},
		{"", "v1.32.2", nil},
		{"nftables", "v1.29.15", []string{"--proxy-mode", "nftables", "--feature-gates", "NFTablesProxyMode=true"}},
		{"nftables", "v1.30.14", []string{"--proxy-mode", "nftables", "--feature-gates", "NFTablesProxyMode=true"}},
		{"nftables", "v1.31.6", []string{"--proxy-mode", "nftables"}},
		{"nftables", "v1.32.2", []string{"--proxy-mode", "nftables"}},
	}
	for _, c := range ok {
		got, err := ModeArgs(c.mode, c.version)
		if err != nil {
			t.Errorf("%s %s: %v", c.mode, c.version, err)
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s %s (-want +got):\n%s", c.mode, c.version, d)
		}
	}
	bad := []struct{ mode, version, want string }{
		{"nftables", "v1.28.15", "has no nftables Proxier"},
		{"nftables", "1.32", "is not a Kubernetes release"},
		{"ipvs", "v1.32.2", "use iptables or nftables"},
	}
	for _, c := range bad {
		if _, err := ModeArgs(c.mode, c.version); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want one containing %q", c.mode, c.version, err, c.want)
		}
	}
}
