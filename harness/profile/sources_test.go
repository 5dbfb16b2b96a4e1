package profile

import (
	"strings"
	"testing"
)

// TestEveryPinnedFactIsSourced is the facts test: every fact a cell page
// shows as pinned (the profile's assumption) must be measured in the node
// or carry an upstream source in the profile, in every repository profile.
func TestEveryPinnedFactIsSourced(t *testing.T) {
	names, err := Names("../../images")
	if err != nil || len(names) == 0 {
		t.Fatalf("no profiles: %v", err)
	}
	for _, n := range names {
		p, err := Load("../../images", n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		for _, msg := range p.Unsourced() {
			t.Error(msg)
		}
	}
}

// TestUnsourcedCatchesAnUnsourcedFact: a profile pinning a distro and a
// snap revision without sources, and a source naming no pinned fact, are
// each reported; sourcing them clears the report.
func TestUnsourcedCatchesAnUnsourcedFact(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "p", "distro: {name: ubuntu, version: \"22.04\"}\nmicrok8s: {revision: 7731, kubernetes: v1.32.2}\ncni: {plugins_version: v1.6.0}\nsources:\n  firewalld: https://example.org/x\n")
	p, err := Load(dir, "p")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(p.Unsourced(), "\n")
	for _, want := range []string{"distro: \"ubuntu 22.04\" is neither measured", "snap_revision: \"7731\"", "sources.firewalld: the profile pins no fact"} {
		if !strings.Contains(got, want) {
			t.Errorf("Unsourced() lacks %q:\n%s", want, got)
		}
	}
	// Measured in the node: the CNI plugins' and kube-proxy's versions.
	for _, measured := range []string{"cni_plugins", "kubernetes"} {
		if strings.Contains(got, measured+":") {
			t.Errorf("Unsourced() reports %s, which the node measures:\n%s", measured, got)
		}
	}
	write(t, dir, "p", "distro: {name: ubuntu, version: \"22.04\"}\nmicrok8s: {revision: 7731}\nsources:\n  distro: https://github.com/canonical/microk8s/issues/4944\n  snap_revision: https://github.com/canonical/microk8s/issues/4944\n")
	if p, err = Load(dir, "p"); err != nil {
		t.Fatal(err)
	}
	if u := p.Unsourced(); len(u) != 0 {
		t.Errorf("sourced profile still reported: %v", u)
	}
}

// TestSourcesMustBeURLs: a source that is not an http(s) URL, or a fact
// name that is not one, is bad input naming the field.
func TestSourcesMustBeURLs(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"sources:\n  distro: the report\n":          "\"the report\" is not an http(s) URL",
		"sources:\n  Distro: https://example.org\n": "\"Distro\" is not a fact name",
		"cni:\n  nat_port_range: \"70000-80000\"\n": "cni.nat_port_range: ",
	} {
		write(t, dir, "p", body)
		if _, err := Load(dir, "p"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
		if ps := Check(dir, "p", nil); len(ps) == 0 || !strings.Contains(ps[0].String(), want) {
			t.Errorf("%q: Check %v, want a problem naming %q", body, ps, want)
		}
	}
}
