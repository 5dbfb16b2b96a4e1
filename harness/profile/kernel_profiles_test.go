package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/kernel"

	"github.com/google/go-cmp/cmp"
)

// TestKernelProfiles checks the repository's kernel profiles and the cells
// composed from them with extends.
func TestKernelProfiles(t *testing.T) {
	load := func(name string) *Profile {
		t.Helper()
		p, err := Load("../../images", name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The targets the 6.8.0-56 backport broke for IPv6 (microk8s #4961, #5022).
	mark6 := []kernel.Hidden{{Family: "ipv6", Kind: "target", Name: "MARK"}, {Family: "ipv6", Kind: "target", Name: "NFLOG"}, {Family: "ipv6", Kind: "target", Name: "TRACE"}}
	for name, want := range map[string][]kernel.Hidden{
		"ubuntu-6.8.0-56": mark6,
		"ubuntu-6.8.0-57": mark6,
		"calico-6.8.0-56": mark6,
		"calico-6.8.0-57": mark6,
	} {
		if diff := cmp.Diff(want, load(name).Kernel.Hidden()); diff != "" {
			t.Errorf("%s hidden (-want +got):\n%s", name, diff)
		}
	}
	if r := load("ubuntu-6.8.0-57").Kernel.Release; r != "6.8.0-57-generic" {
		t.Errorf("ubuntu-6.8.0-57 release = %q (extends must not keep -56's)", r)
	}
	// Profiles that hide nothing get no LD_PRELOAD at all: exactly the host.
	for _, name := range []string{"ubuntu-6.8.0-55", "ubuntu-6.8.0-58", "calico-6.8.0-55", "calico-6.8.0-58", "wsl2-custom", "microk8s-1.29-wsl2-custom", "microk8s-1.29-wsl2-docker"} {
		p := load(name)
		if h := p.Kernel.Hidden(); len(h) != 0 || kernel.Env("/lib/libhidext.so", h) != nil {
			t.Errorf("%s hides %v, want nothing", name, h)
		}
		if p.Kernel.Release == "" {
			t.Errorf("%s has no kernel release", name)
		}
	}
	c := load("calico-6.8.0-57")
	if c.Distro.Version != "24.04" || c.CNI.Name != "calico" || c.Iptables.Mode != "legacy" || c.Kernel.Release != "6.8.0-57-generic" {
		t.Errorf("calico-6.8.0-57 merged wrong: distro %+v cni %+v iptables %+v kernel %q", c.Distro, c.CNI, c.Iptables, c.Kernel.Release)
	}
	w := load("microk8s-1.29-wsl2-stock")
	var recent []string
	for _, h := range w.Kernel.Hidden() {
		if h.Name == "recent" {
			recent = append(recent, h.String())
		}
	}
	if diff := cmp.Diff([]string{"ipv4:match:recent", "ipv6:match:recent"}, recent); diff != "" {
		t.Errorf("wsl2 stock hides recent (-want +got):\n%s", diff)
	}
	if w.Distro.Version != "22.04" || w.MicroK8s.Version != "1.29" || !strings.Contains(w.Kernel.Notes, "NETFILTER_XT_MATCH_RECENT") {
		t.Errorf("microk8s-1.29-wsl2-stock merged wrong: %+v %+v notes %q", w.Distro, w.MicroK8s, w.Kernel.Notes)
	}
	d := load("microk8s-1.29-wsl2-docker")
	if diff := cmp.Diff(map[string]string{"nft": "DROP"}, d.Iptables.HostForwardPolicy); diff != "" {
		t.Errorf("docker host forward policy (-want +got):\n%s", diff)
	}
	if load("microk8s-1.29-wsl2-custom").Iptables.HostForwardPolicy != nil {
		t.Error("custom profile inherited a host forward policy")
	}
}

func TestHostForwardPolicyValidated(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"badvariant": "iptables: {host_forward_policy: {both: DROP}}\n",
		"badpolicy":  "iptables: {host_forward_policy: {nft: REJECT}}\n",
		"good":       "iptables: {host_forward_policy: {nft: DROP, legacy: ACCEPT}}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"badvariant", "badpolicy"} {
		if _, err := Load(dir, n); err == nil || !strings.Contains(err.Error(), "iptables.host_forward_policy") {
			t.Errorf("%s: err = %v, want a host_forward_policy error", n, err)
		}
	}
	if _, err := Load(dir, "good"); err != nil {
		t.Error(err)
	}
}
