package limaprov

import (
	"reflect"
	"strings"
	"testing"

	"lab/harness/kernel"
)

// index is a small module index shaped like Debian's cloud kernel's.
const index = `== modules.dep
kernel/net/netfilter/xt_recent.ko: kernel/net/netfilter/x_tables.ko
kernel/net/netfilter/xt_mark.ko:
kernel/net/netfilter/xt_connmark.ko: kernel/net/netfilter/nf_conntrack.ko
kernel/net/netfilter/xt_TRACE.ko:
== modules.alias
alias ipt_recent xt_recent
alias ip6t_recent xt_recent
alias ipt_mark xt_mark
alias ip6t_mark xt_mark
alias ipt_MARK xt_mark
alias ip6t_MARK xt_mark
alias arpt_MARK xt_mark
alias ipt_CONNMARK xt_connmark
alias ip6t_CONNMARK xt_connmark
alias ipt_connmark xt_connmark
alias ip6t_connmark xt_connmark
alias ipt_TRACE xt_TRACE
alias ip6t_TRACE xt_TRACE
== modules.builtin
kernel/net/netfilter/xt_comment.ko
`

func h(family, kind, name string) kernel.Hidden {
	return kernel.Hidden{Family: family, Kind: kind, Name: name}
}

// TestPlanHiding: a module goes only when every extension it serves (both
// families, matches and targets) is hidden; the rest stays with the library.
func TestPlanHiding(t *testing.T) {
	m := parseModIndex(index)
	for _, tc := range []struct {
		name      string
		hidden    []kernel.Hidden
		modules   []string
		byLibrary []kernel.Hidden
	}{
		{"recent in both families", []kernel.Hidden{h("ipv4", "match", "recent"), h("ipv6", "match", "recent")}, []string{"xt_recent"}, nil},
		{"recent in one family", []kernel.Hidden{h("ipv4", "match", "recent")}, nil, []kernel.Hidden{h("ipv4", "match", "recent")}},
		{"IPv6 MARK only (xt_mark serves IPv4 too)", []kernel.Hidden{h("ipv6", "target", "MARK")}, nil, []kernel.Hidden{h("ipv6", "target", "MARK")}},
		{"CONNMARK and connmark, both families", []kernel.Hidden{
			h("ipv4", "match", "connmark"), h("ipv4", "target", "CONNMARK"), h("ipv6", "match", "connmark"), h("ipv6", "target", "CONNMARK"),
			h("ipv4", "target", "TRACE"), h("ipv6", "target", "TRACE")}, []string{"xt_TRACE", "xt_connmark"}, nil},
		{"CONNMARK without connmark", []kernel.Hidden{h("ipv4", "target", "CONNMARK"), h("ipv6", "target", "CONNMARK")}, nil,
			[]kernel.Hidden{h("ipv4", "target", "CONNMARK"), h("ipv6", "target", "CONNMARK")}},
		{"built-in comment", []kernel.Hidden{h("ipv4", "match", "comment"), h("ipv6", "match", "comment")}, nil,
			[]kernel.Hidden{h("ipv4", "match", "comment"), h("ipv6", "match", "comment")}},
		{"unknown extension", []kernel.Hidden{h("ipv4", "match", "nosuch")}, nil, []kernel.Hidden{h("ipv4", "match", "nosuch")}},
	} {
		p := planHiding(tc.hidden, m)
		if !reflect.DeepEqual(p.Modules, tc.modules) || !reflect.DeepEqual(p.ByLibrary, tc.byLibrary) {
			t.Errorf("%s: modules %v, by library %v; want %v, %v", tc.name, p.Modules, p.ByLibrary, tc.modules, tc.byLibrary)
		}
		if len(p.ByKernel)+len(p.ByLibrary) != len(tc.hidden) {
			t.Errorf("%s: %d by kernel + %d by library != %d hidden", tc.name, len(p.ByKernel), len(p.ByLibrary), len(tc.hidden))
		}
	}
}

// TestTemplate: the generated template boots the image's kernel directly,
// under QEMU with cpuType max, without mounts, containerd or forwards.
func TestTemplate(t *testing.T) {
	y := template(&vmDisk{Disk: "/d/disk.qcow2", Kernel: "/d/vmlinuz", Initrd: "/d/initrd.img"})
	for _, want := range []string{"vmType: qemu", "x86_64: max", "legacyBIOS: true", `location: "/d/disk.qcow2"`,
		`location: "/d/vmlinuz"`, `location: "/d/initrd.img"`, "mounts: []", "system: false", "ignore: true"} {
		if !strings.Contains(y, want) {
			t.Errorf("template lacks %q:\n%s", want, y)
		}
	}
}
