package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/kernel"

	"github.com/google/go-cmp/cmp"
)

func write(t testing.TB, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRepositoryProfilesLoad(t *testing.T) {
	names, err := Names("../../images")
	if err != nil || len(names) == 0 {
		t.Fatalf("no profiles: %v", err)
	}
	for _, n := range names {
		if _, err := Load("../../images", n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	p, err := Load("../../images", "microk8s-1.32.3")
	if err != nil {
		t.Fatal(err)
	}
	// 1.32.3 extends 1.32.2 extends 1.31.6 extends ubuntu-22.04.
	if p.Distro.Version != "22.04" || p.MicroK8s.Version != "1.32.3" || !p.MicroK8s.Stop.RemoveContainers ||
		!cmp.Equal(p.MicroK8s.Stop.FlushChains, []string{"CNI-HOSTPORT-DNAT"}) || p.CNI.Network != "microk8s-flannel-network" {
		t.Errorf("merged profile wrong: %+v", p)
	}
}

func TestExtendsMergesKeyByKey(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "base", "distro: {name: ubuntu, version: \"24.04\"}\nmicrok8s: {version: \"1.0\", revision: 1, stop: {remove_containers: true}}\n")
	write(t, dir, "k", "kernel:\n  release: 6.8.0-57-generic\n  missing:\n    ipv6: {targets: [MARK]}\n")
	write(t, dir, "child", "extends: [base, k]\nmicrok8s: {version: \"2.0\"}\n")
	p, err := Load(dir, "child")
	if err != nil {
		t.Fatal(err)
	}
	if p.MicroK8s.Version != "2.0" || p.MicroK8s.Revision != 1 || !p.MicroK8s.Stop.RemoveContainers || p.Distro.Version != "24.04" {
		t.Errorf("merge lost keys: %+v", p.MicroK8s)
	}
	want := []kernel.Hidden{{Family: "ipv6", Kind: "target", Name: "MARK"}}
	if diff := cmp.Diff(want, p.Kernel.Hidden()); diff != "" {
		t.Errorf("hidden (-want +got):\n%s", diff)
	}
	if p.Iptables.Mode != "legacy" || p.CNI.Subnet != "10.1.84.0/24" {
		t.Errorf("defaults not applied: %+v %+v", p.Iptables, p.CNI)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "typo", "distro:\n  name: ubuntu\n  versoin: \"22.04\"\n")
	write(t, dir, "cyc-a", "extends: [cyc-b]\n")
	write(t, dir, "cyc-b", "extends: [cyc-a]\n")
	write(t, dir, "badmode", "iptables: {mode: both}\n")
	write(t, dir, "badyaml", "distro: [\n")
	write(t, dir, "orphan", "extends: [nope]\n")
	write(t, dir, "badhide", "kernel: {missing: {ipv4: {targets: [\"A B\"]}}}\n")
	write(t, dir, "misnamed", "name: other\n")
	for name, want := range map[string]string{
		"typo":     "typo.yaml: yaml: unmarshal errors:\n  line 3: field versoin not found",
		"cyc-a":    "extends cycle",
		"badmode":  `iptables.mode: "both" is not legacy or nft`,
		"badyaml":  "badyaml.yaml: yaml: line 1",
		"orphan":   `profile orphan extends: unknown profile "nope"`,
		"badhide":  "bad name",
		"misnamed": `name "other" does not match the file name "misnamed"`,
	} {
		_, err := Load(dir, name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, want)
		}
	}
	_, err := Load(dir, "absent")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "valid profiles: ") {
		t.Errorf("absent: %v, want a NotFoundError listing valid profiles", err)
	}
}
