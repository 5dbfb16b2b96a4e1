// Package kernel reproduces kernel profiles: it makes iptables behave as on a
// kernel that lacks named netfilter extensions (DESIGN.md failures 2 and 4).
//
// The mechanism is a small LD_PRELOAD library, hidext/hidext.c. For each
// hidden extension it fails the revision probe iptables makes
// (getsockopt IPT_SO_GET_REVISION_MATCH/TARGET and the IP6T_ ones, and the
// nf_tables NFNL_MSG_COMPAT_GET request of iptables-nft) with ENOENT, so
// iptables prints the kernel's own warning, e.g.
//
//	Warning: Extension MARK revision 0 not supported, missing kernel module?
//
// and fails the table commit (IPT_SO_SET_REPLACE / IP6T_SO_SET_REPLACE, or
// the nf_tables rule using the compat match/target) with ENOENT, as such a
// kernel does. What iptables then prints is that iptables version's own
// reaction to the kernel's answer: recent versions (1.8.9 here) print the
// warning above and reject the extension's options ("unknown option" or
// "bad value for option"); older ones such as calico/node's 1.8.4 print
// no warning, only `unknown option "--set-mark"` (microk8s #5022). Hiding
// is per family and kind: "ipv6:target:MARK" leaves IPv4's MARK alone.
// Without hidden extensions nothing is preloaded, so the host behaves
// exactly as it is.
package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"lab/harness/execx"
)

// EnvVar is the variable the library reads its hidden extensions from.
const EnvVar = "LAB_HIDE_EXTENSIONS"

// LibEnvVar, when set, is the path of the built library LibPath returns.
const LibEnvVar = "LAB_HIDEXT_LIB"

// LibName is the file name of the built library.
const LibName = "libhidext.so"

// Hidden names one netfilter extension the emulated kernel lacks.
type Hidden struct {
	// Family is "ipv4" or "ipv6".
	Family string
	// Kind is "match" or "target".
	Kind string
	// Name is the kernel's name of the extension, case-sensitive: targets
	// like "MARK", matches like "recent", "mark" or "comment".
	Name string
}

// String renders h as family:kind:name, the form EnvVar uses.
func (h Hidden) String() string { return h.Family + ":" + h.Kind + ":" + h.Name }

// Validate reports whether h names a family, kind and name the library
// understands.
func (h Hidden) Validate() error {
	if h.Family != "ipv4" && h.Family != "ipv6" {
		return fmt.Errorf("hidden extension %q: family must be ipv4 or ipv6", h.String())
	}
	if h.Kind != "match" && h.Kind != "target" {
		return fmt.Errorf("hidden extension %q: kind must be match or target", h.String())
	}
	if h.Name == "" || len(h.Name) >= 29 || strings.ContainsAny(h.Name, ":, \t\n") {
		return fmt.Errorf("hidden extension %q: bad name", h.String())
	}
	return nil
}

// EnvValue builds the value of EnvVar for h, e.g.
// "ipv6:target:MARK,ipv4:match:recent".
func EnvValue(h []Hidden) string {
	s := make([]string, len(h))
	for i, x := range h {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

// Env returns the environment entries (LD_PRELOAD and EnvVar) that make
// commands hide h using the library at libPath. It returns nil when h is
// empty, so a profile hiding nothing behaves exactly like the host.
func Env(libPath string, h []Hidden) []string {
	if len(h) == 0 {
		return nil
	}
	return []string{"LD_PRELOAD=" + libPath, EnvVar + "=" + EnvValue(h)}
}

// Build compiles the library from srcDir (which holds hidext.c) to outPath
// with gcc.
func Build(ctx context.Context, srcDir, outPath string) error {
	src := filepath.Join(srcDir, "hidext.c")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("build %s: %w", LibName, err)
	}
	if err := os.MkdirAll(filepath.Dir(outPath), 0o755); err != nil {
		return fmt.Errorf("build %s: %w", LibName, err)
	}
	argv := []string{"gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", outPath, src, "-Wl,--no-as-needed", "-l:libdl.so.2"}
	if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: argv}); err != nil {
		return fmt.Errorf("build %s: %w", LibName, err)
	}
	return nil
}

// LibPath locates a built library: $LAB_HIDEXT_LIB, else libhidext.so next
// to the running executable, else bin/libhidext.so in the current directory
// or the nearest parent that holds go.mod.
func LibPath() (string, error) {
	if p := os.Getenv(LibEnvVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: library not found; run `make build`", LibEnvVar, p)
		}
		return abs(p), nil
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), LibName)
		if isFile(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if wd, err := os.Getwd(); err == nil {
		p := filepath.Join(wd, "bin", LibName)
		if isFile(p) {
			return p, nil
		}
		tried = append(tried, p)
		for dir := wd; ; dir = filepath.Dir(dir) {
			if isFile(filepath.Join(dir, "go.mod")) {
				p := filepath.Join(dir, "bin", LibName)
				if isFile(p) {
					return p, nil
				}
				tried = append(tried, p)
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", errors.New(LibName + " not found (tried " + strings.Join(tried, ", ") + "); run `make build`")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Release returns the running kernel's release (uname -r), "" if unknown.
func Release() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return ""
	}
	var s strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}
