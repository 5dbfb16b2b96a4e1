package limaprov

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"lab/harness/kernel"
)

// modIndex is what a VM's kernel offers as modules: every module's name,
// the aliases modules.alias maps to them, and the built-in ones (which no
// removal can hide).
type modIndex struct {
	modules map[string]bool
	alias   map[string]string // alias -> module
	builtin map[string]bool
}

// parseModIndex reads modules.dep, modules.alias and modules.builtin as
// printed by readModIndexScript (sections start with "== NAME").
func parseModIndex(out string) modIndex {
	m := modIndex{modules: map[string]bool{}, alias: map[string]string{}, builtin: map[string]bool{}}
	section := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if s, ok := strings.CutPrefix(l, "== "); ok {
			section = s
			continue
		}
		switch section {
		case "modules.dep":
			if f, _, ok := strings.Cut(l, ":"); ok {
				m.modules[modName(f)] = true
			}
		case "modules.alias":
			if f := strings.Fields(l); len(f) == 3 && f[0] == "alias" {
				m.alias[f[1]] = f[2]
			}
		case "modules.builtin":
			if l != "" {
				m.builtin[modName(l)] = true
			}
		}
	}
	return m
}

const readModIndexScript = `d=/lib/modules/$(uname -r); for f in modules.dep modules.alias modules.builtin; do echo "== $f"; cat "$d/$f" 2>/dev/null; done`

// modName turns kernel/net/netfilter/xt_recent.ko(.xz) into xt_recent.
func modName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// ext is one extension of one family (kinds share a namespace: matches are
// lower-case, targets upper-case, as the kernel names them).
type ext struct{ family, name string }

// moduleOf resolves the module serving an extension of a family the way
// iptables' kernel side autoloads it (xt_NAME, or the ipt_/ip6t_ alias).
func (m modIndex) moduleOf(family, name string) string {
	pre := "ipt_"
	if family == "ipv6" {
		pre = "ip6t_"
	}
	for _, cand := range []string{"xt_" + name, pre + name} {
		if m.modules[cand] || m.builtin[cand] {
			return cand
		}
		if mod, ok := m.alias[cand]; ok {
			return mod
		}
	}
	return ""
}

// serves lists the (family, name) extensions module mod serves, read off
// its aliases and its own xt_ name.
func (m modIndex) serves(mod string) map[ext]bool {
	out := map[ext]bool{}
	add := func(a string) {
		switch {
		case strings.HasPrefix(a, "xt_"):
			out[ext{"ipv4", a[3:]}], out[ext{"ipv6", a[3:]}] = true, true
		case strings.HasPrefix(a, "ipt_"):
			out[ext{"ipv4", a[4:]}] = true
		case strings.HasPrefix(a, "ip6t_"):
			out[ext{"ipv6", a[5:]}] = true
		}
	}
	add(mod)
	for a, target := range m.alias {
		if target == mod {
			add(a)
		}
	}
	return out
}

// hidingPlan says how a kernel profile's hidden extensions are made real
// in a VM.
type hidingPlan struct {
	// Modules are removed from the VM's kernel (deleted, depmod): every
	// extension they serve is hidden by the profile.
	Modules []string
	// ByKernel are the extensions the VM's kernel itself then lacks.
	ByKernel []kernel.Hidden
	// ByLibrary are the rest, hidden by the kernel-profile library inside
	// the VM: a module that also serves an extension the profile keeps
	// (xt_mark serves MARK in both families), a built-in one, or none found.
	ByLibrary []kernel.Hidden
}

// planHiding splits hidden into module removals and the library's rest.
func planHiding(hidden []kernel.Hidden, m modIndex) hidingPlan {
	want := map[ext]bool{}
	for _, h := range hidden {
		want[ext{h.Family, h.Name}] = true
	}
	var p hidingPlan
	ok := map[string]bool{}
	for _, h := range hidden {
		mod := m.moduleOf(h.Family, h.Name)
		removable, seen := ok[mod]
		if !seen && mod != "" && !m.builtin[mod] && m.modules[mod] {
			removable = true
			for e := range m.serves(mod) {
				if !want[e] {
					removable = false
				}
			}
			ok[mod] = removable
			if removable {
				p.Modules = append(p.Modules, mod)
			}
		}
		if mod != "" && removable {
			p.ByKernel = append(p.ByKernel, h)
		} else {
			p.ByLibrary = append(p.ByLibrary, h)
		}
	}
	sort.Strings(p.Modules)
	return p
}

// hideDir keeps the modules a cell removed, to put them back at reset.
const hideDir = "/var/lib/lab/hidden-modules"

// hideScript unloads and deletes the named modules (moving them aside)
// and runs depmod, so the kernel's own module loading fails for them.
const hideScript = `set -e
d=/lib/modules/$(uname -r)
for m do
	f=$(modinfo -n "$m")
	case $f in /*) ;; *) echo "module $m: no file ($f)" >&2; exit 1 ;; esac
	if grep -q "^$m " /proc/modules; then modprobe -r "$m"; fi
	mkdir -p "` + hideDir + `$(dirname "$f")"
	mv "$f" "` + hideDir + `$f"
done
depmod -a`

// restoreScript puts every hidden module back.
const restoreScript = `set -e
if [ -d ` + hideDir + ` ]; then
	cd ` + hideDir + ` && find . -type f | while read -r f; do mkdir -p "/${f%/*}"; mv "$f" "/$f"; done
	cd / && rm -rf ` + hideDir + ` && depmod -a
fi`

// hide removes the plan's modules from the VM's kernel.
func (v *vm) hide(ctx context.Context, mods []string) error {
	if len(mods) == 0 {
		return nil
	}
	if _, err := v.script(ctx, hideScript, mods...); err != nil {
		return fmt.Errorf("remove kernel modules %s in VM %s: %w", strings.Join(mods, ","), v.name, err)
	}
	return nil
}

// modIndex reads the VM kernel's module index.
func (v *vm) modIndex(ctx context.Context) (modIndex, error) {
	out, err := v.script(ctx, readModIndexScript)
	if err != nil {
		return modIndex{}, fmt.Errorf("read the module index of VM %s: %w", v.name, err)
	}
	return parseModIndex(out), nil
}
