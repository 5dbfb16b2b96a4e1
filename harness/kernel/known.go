package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Known are the netfilter extensions an iptables installation knows, read
// off the extension libraries it ships (libxt_NAME.so serves both families,
// libipt_NAME.so IPv4, libip6t_NAME.so IPv6). A kernel profile can only
// hide an extension iptables would ask the kernel for: any other name hides
// nothing, silently.
type Known struct {
	// Dir is the xtables directory the names were read from.
	Dir string
	// ByFamily holds the names per family ("ipv4", "ipv6").
	ByFamily map[string]map[string]bool
}

// XtablesDirs are where distributions install iptables' extension
// libraries; $XTABLES_LIBDIR comes first when set.
func XtablesDirs() []string {
	var out []string
	if d := os.Getenv("XTABLES_LIBDIR"); d != "" {
		out = append(out, strings.Split(d, ":")...)
	}
	multi, _ := filepath.Glob("/usr/lib/*-linux-gnu*/xtables")
	out = append(out, multi...)
	return append(out, "/usr/lib64/xtables", "/usr/lib/xtables", "/usr/local/lib/xtables")
}

// HostExtensions reads the extensions of this host's iptables from the
// first xtables directory that has any.
func HostExtensions() (*Known, error) {
	for _, d := range XtablesDirs() {
		if k, err := ReadExtensions(d); err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no iptables extension libraries (libxt_*.so) in %s; install iptables", strings.Join(XtablesDirs(), ", "))
}

// ReadExtensions reads the extension names shipped in one xtables directory.
func ReadExtensions(dir string) (*Known, error) {
	files, err := filepath.Glob(filepath.Join(dir, "lib*.so"))
	if err != nil {
		return nil, err
	}
	k := &Known{Dir: dir, ByFamily: map[string]map[string]bool{"ipv4": {}, "ipv6": {}}}
	n := 0
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".so")
		for prefix, fams := range map[string][]string{"libxt_": {"ipv4", "ipv6"}, "libipt_": {"ipv4"}, "libip6t_": {"ipv6"}} {
			if name, ok := strings.CutPrefix(base, prefix); ok && name != "" {
				for _, fam := range fams {
					k.ByFamily[fam][name] = true
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("no iptables extension libraries in %s", dir)
	}
	return k, nil
}

// Check reports whether iptables knows the extension h names, suggesting
// the name it probably meant (xt_recent -> recent).
func (k *Known) Check(h Hidden) error {
	names := k.ByFamily[h.Family]
	if names[h.Name] {
		return nil
	}
	msg := fmt.Sprintf("%s %s %q is not an extension iptables knows (none of libxt_%s.so, lib%s_%s.so in %s), so hiding it hides nothing",
		h.Family, h.Kind, h.Name, h.Name, map[string]string{"ipv4": "ipt", "ipv6": "ip6t"}[h.Family], h.Name, k.Dir)
	if s := k.suggest(h); s != "" {
		return fmt.Errorf("%s; did you mean %q?", msg, s)
	}
	return fmt.Errorf("%s; use the name iptables uses after -m or -j", msg)
}

// suggest finds the known name h probably meant: without a module prefix
// (xt_, ipt_, ip6t_, nf_) or a .ko suffix, in any case.
func (k *Known) suggest(h Hidden) string {
	s := strings.TrimSuffix(strings.TrimSuffix(h.Name, ".so"), ".ko")
	for _, p := range []string{"libxt_", "libipt_", "libip6t_", "xt_", "ipt_", "ip6t_", "nf_"} {
		s = strings.TrimPrefix(s, p)
	}
	names := make([]string, 0, len(k.ByFamily[h.Family]))
	for n := range k.ByFamily[h.Family] {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == s {
			return n
		}
	}
	for _, n := range names {
		if strings.EqualFold(n, s) {
			return n
		}
	}
	return ""
}
