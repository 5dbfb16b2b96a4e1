package kernel_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/kernel"
	"lab/harness/netns"
)

func TestEnvValueAndEnv(t *testing.T) {
	h := []kernel.Hidden{{"ipv6", "target", "MARK"}, {"ipv4", "match", "recent"}}
	if got, want := kernel.EnvValue(h), "ipv6:target:MARK,ipv4:match:recent"; got != want {
		t.Errorf("EnvValue = %q, want %q", got, want)
	}
	want := []string{"LD_PRELOAD=/x/libhidext.so", "LAB_HIDE_EXTENSIONS=ipv6:target:MARK,ipv4:match:recent"}
	if got := kernel.Env("/x/libhidext.so", h); !reflect.DeepEqual(got, want) {
		t.Errorf("Env = %q, want %q", got, want)
	}
	if got := kernel.Env("/x/libhidext.so", nil); got != nil {
		t.Errorf("Env with nothing hidden = %q, want nil", got)
	}
	if kernel.EnvValue(nil) != "" {
		t.Errorf("EnvValue(nil) not empty")
	}
	for _, x := range h {
		if err := x.Validate(); err != nil {
			t.Errorf("Validate(%v): %v", x, err)
		}
	}
	for _, x := range []kernel.Hidden{{"ip", "match", "x"}, {"ipv4", "jump", "x"}, {"ipv4", "match", ""}, {"ipv4", "match", "a,b"}} {
		if x.Validate() == nil {
			t.Errorf("Validate(%v) accepted a bad extension", x)
		}
	}
}

func TestLibPathEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "libhidext.so")
	t.Setenv("LAB_HIDEXT_LIB", p)
	if _, err := kernel.LibPath(); err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing library: err = %v, want one naming `make build`", err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := kernel.LibPath(); err != nil || got != p {
		t.Errorf("LibPath = %q, %v; want %q", got, err, p)
	}
}

const mangleMark = "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-mark 0x1\nCOMMIT\n"
const filterRecent = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m recent --name x --set\nCOMMIT\n"

// lab sets up a throwaway namespace and a freshly built library.
type lab struct {
	t   *testing.T
	ctx context.Context
	ns  string
	lib string
}

func newLab(t *testing.T, progs ...string) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel tests need root (network namespaces, iptables)")
	}
	for _, p := range append([]string{"gcc", "ip"}, progs...) {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	lib := filepath.Join(t.TempDir(), "libhidext.so")
	if err := kernel.Build(ctx, "hidext", lib); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "lab-ktest-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := netns.Delete(context.Background(), name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	p, err := netns.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return &lab{t: t, ctx: ctx, ns: p, lib: lib}
}

// restore feeds rules to prog in the namespace with h hidden and returns
// its stderr and error.
func (l *lab) restore(prog, rules string, h ...kernel.Hidden) (string, error) {
	r := netns.Runner{Path: l.ns, Env: kernel.Env(l.lib, h)}
	res, err := r.Run(l.ctx, execx.Cmd{Argv: []string{prog}, Stdin: []byte(rules)})
	l.t.Logf("%s with %q: err=%v stderr=%q", prog, kernel.EnvValue(h), err, res.Stderr)
	return string(res.Stderr), err
}

func (l *lab) save(argv ...string) string {
	out, err := execx.Output(l.ctx, netns.Runner{Path: l.ns}, argv...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

func warning(name string) string {
	return "Warning: Extension " + name + " revision 0 not supported, missing kernel module?"
}

func TestHideIPv6MarkTarget(t *testing.T) {
	l := newLab(t, "ip6tables-legacy-restore", "iptables-legacy-restore")
	h := kernel.Hidden{Family: "ipv6", Kind: "target", Name: "MARK"}
	stderr, err := l.restore("ip6tables-legacy-restore", mangleMark, h)
	if err == nil {
		t.Errorf("ip6tables-legacy-restore succeeded with the IPv6 MARK target hidden")
	}
	if !strings.Contains(stderr, warning("MARK")) {
		t.Errorf("stderr %q lacks %q", stderr, warning("MARK"))
	}
	if out := l.save("ip6tables-legacy-save", "-t", "mangle"); strings.Contains(out, "MARK") {
		t.Errorf("rule committed although MARK is hidden:\n%s", out)
	}
	if _, err := l.restore("iptables-legacy-restore", mangleMark, h); err != nil {
		t.Errorf("IPv4 restore failed with only IPv6 MARK hidden: %v", err)
	}
	if out := l.save("iptables-legacy-save", "-t", "mangle"); !strings.Contains(out, "-j MARK") {
		t.Errorf("IPv4 MARK rule missing:\n%s", out)
	}
}

func TestHideIPv4RecentMatch(t *testing.T) {
	l := newLab(t, "iptables-legacy-restore")
	h := kernel.Hidden{Family: "ipv4", Kind: "match", Name: "recent"}
	stderr, err := l.restore("iptables-legacy-restore", filterRecent, h)
	if err == nil {
		t.Errorf("iptables-legacy-restore succeeded with the recent match hidden")
	}
	if !strings.Contains(stderr, warning("recent")) {
		t.Errorf("stderr %q lacks %q", stderr, warning("recent"))
	}
	if out := l.save("iptables-legacy-save", "-t", "filter"); strings.Contains(out, "recent") {
		t.Errorf("rule committed although recent is hidden:\n%s", out)
	}
}

func TestPassThrough(t *testing.T) {
	l := newLab(t, "ip6tables-legacy-restore", "iptables-legacy-restore")
	// With nothing hidden Env is nil; also preload the library with an
	// empty variable to check the library itself changes nothing.
	for _, env := range [][]string{nil, {"LD_PRELOAD=" + l.lib, "LAB_HIDE_EXTENSIONS="}} {
		r := netns.Runner{Path: l.ns, Env: env}
		for _, c := range []struct{ prog, rules string }{
			{"ip6tables-legacy-restore", mangleMark},
			{"iptables-legacy-restore", mangleMark},
			{"iptables-legacy-restore", filterRecent},
		} {
			res, err := r.Run(l.ctx, execx.Cmd{Argv: []string{c.prog}, Stdin: []byte(c.rules)})
			if err != nil || len(res.Stderr) != 0 {
				t.Errorf("env %q: %s: err=%v stderr=%q", env, c.prog, err, res.Stderr)
			}
		}
	}
	if out := l.save("ip6tables-legacy-save", "-t", "mangle"); !strings.Contains(out, "-j MARK") {
		t.Errorf("IPv6 MARK rule missing:\n%s", out)
	}
	if out := l.save("iptables-legacy-save", "-t", "filter"); !strings.Contains(out, "-m recent") {
		t.Errorf("recent rule missing:\n%s", out)
	}
}

func TestHideNFTCompat(t *testing.T) {
	l := newLab(t, "ip6tables-nft-restore", "nft")
	if _, err := (netns.Runner{Path: l.ns}).Run(l.ctx, execx.Cmd{Argv: []string{"nft", "list", "ruleset"}}); err != nil {
		t.Skipf("nf_tables unavailable: %v", err)
	}
	h := kernel.Hidden{Family: "ipv6", Kind: "target", Name: "MARK"}
	stderr, err := l.restore("ip6tables-nft-restore", mangleMark, h)
	if err == nil {
		t.Errorf("ip6tables-nft-restore succeeded with the IPv6 MARK target hidden")
	}
	if !strings.Contains(stderr, warning("MARK")) {
		t.Errorf("stderr %q lacks %q", stderr, warning("MARK"))
	}
	if _, err := l.restore("ip6tables-nft-restore", mangleMark); err != nil {
		t.Errorf("pass-through ip6tables-nft-restore failed: %v", err)
	}
}

// TestHideBackportTargets hides what Ubuntu 6.8.0-56's backport lost for
// IPv6 (microk8s #4961, #5022; upstream fix 306ed1728e84): the MARK, NFLOG
// and TRACE targets, per family. Each IPv6 rule fails with the kernel's
// warning and commits nothing; the same rules still work for IPv4.
func TestHideBackportTargets(t *testing.T) {
	l := newLab(t, "ip6tables-legacy-restore", "iptables-legacy-restore")
	h := []kernel.Hidden{
		{Family: "ipv6", Kind: "target", Name: "MARK"},
		{Family: "ipv6", Kind: "target", Name: "NFLOG"},
		{Family: "ipv6", Kind: "target", Name: "TRACE"},
	}
	for _, c := range []struct{ target, table, rules string }{
		{"MARK", "mangle", mangleMark},
		{"NFLOG", "filter", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j NFLOG --nflog-group 1\nCOMMIT\n"},
		{"TRACE", "raw", "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp --dport 9 -j TRACE\nCOMMIT\n"},
	} {
		stderr, err := l.restore("ip6tables-legacy-restore", c.rules, h...)
		if err == nil || !strings.Contains(stderr, warning(c.target)) {
			t.Errorf("IPv6 %s with the backport's targets hidden: err=%v stderr=%q, want a failure with %q", c.target, err, stderr, warning(c.target))
		}
		if out := l.save("ip6tables-legacy-save", "-t", c.table); strings.Contains(out, "-j "+c.target) {
			t.Errorf("IPv6 %s rule committed although hidden:\n%s", c.target, out)
		}
		if _, err := l.restore("iptables-legacy-restore", c.rules, h...); err != nil {
			t.Errorf("IPv4 %s failed with only IPv6 targets hidden: %v", c.target, err)
		}
		if out := l.save("iptables-legacy-save", "-t", c.table); !strings.Contains(out, "-j "+c.target) {
			t.Errorf("IPv4 %s rule missing:\n%s", c.target, out)
		}
	}
}
