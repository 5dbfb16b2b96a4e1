package profile

import (
	"strings"
	"testing"
)

func TestVMProfileLoads(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "base", "microk8s: {version: \"1.31.6\", channel: 1.31/stable, revision: 7661}\n")
	write(t, dir, "vm", "extends: [base]\ndriver: microk8s\nvm: {image: \"ubuntu:22.04\", kernel_package: linux-image-5.15.0-139-generic, packages: [conntrack], cpus: 4, memory: 8GiB}\n")
	p, err := Load(dir, "vm")
	if err != nil {
		t.Fatal(err)
	}
	if !p.NeedsVM() || p.VM.KernelRelease() != "5.15.0-139-generic" || p.VM.CPUs != 4 || p.MicroK8s.Revision != 7661 || p.Driver != DriverMicroK8s {
		t.Errorf("loaded %+v", p)
	}
	write(t, dir, "plain", "microk8s: {version: \"1.32.2\"}\n")
	if p, err := Load(dir, "plain"); err != nil || p.Driver != DriverSim || p.NeedsVM() {
		t.Errorf("default driver: %+v, %v", p, err)
	}
}

func TestVMProfileProblems(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"driver: real\n", "driver: \"real\": use sim"},
		{"driver: microk8s\n", "set vm.image"},
		{"driver: microk8s\nvm: {image: ubuntu:24.04}\n", "set microk8s.channel (1.32/stable) and microk8s.revision"},
		{"vm: {image: ubuntu:24.04, kernel_package: linux-6.8}\n", "vm.kernel_package: \"linux-6.8\" is not a kernel package"},
		{"vm: {image: ubuntu:24.04, packages: [\"Curl;rm\"]}\n", "vm.packages: \"Curl;rm\" is not a package name"},
		{"vm: {image: ubuntu:24.04, memory: 4G}\n", "vm.memory: \"4G\" is not a size"},
		{"vm: {image: ubuntu:24.04, cpus: 0}\n", "vm.cpus: \"0\""},
		{"vm: {image: ubuntu:24.04, cpus: 999}\n", "vm.cpus: \"999\" is not a CPU count"},
		{"vm: {kernel_package: linux-image-6.8.0-57-generic}\n", "vm: set vm.image"},
		{"vm: {image: \"ubuntu:24.04; rm\"}\n", "vm.image: "},
		{"microk8s: {channel: \"1.32/stable --dangerous\"}\n", "microk8s.channel: "},
		{"vm: {image: \"cloud:24.04\"}\n", `unknown image remote "cloud"; use one of lxc's default remotes (images, ubuntu,`},
		{"vm: {image: \"my-alias\"}\n", ""},
	} {
		dir := t.TempDir()
		write(t, dir, "p", c.body)
		probs := Check(dir, "p", nil)
		var got string
		for _, p := range probs {
			got += p.String() + "\n"
		}
		if c.want == "" {
			if got != "" {
				t.Errorf("%q: unexpected problems %s", c.body, got)
			}
			continue
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%q: problems %q, want %q", c.body, got, c.want)
		}
	}
}
