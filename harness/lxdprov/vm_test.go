package lxdprov_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/lxdprov"
	"lab/harness/lxdprov/lxdfake"
	"lab/harness/profile"
	"lab/harness/provider"

	"github.com/canonical/lxd/shared/api"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

const vmProfile = `driver: microk8s
microk8s: {version: "1.32.2", channel: 1.32/stable, revision: 7731}
vm:
  image: ubuntu:24.04
  kernel_package: linux-image-6.8.0-57-generic
  packages: [iptables, curl]
  cpus: 2
  memory: 4GiB
  disk: 20GiB
`

func loadVMProfile(t *testing.T) *profile.Profile {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vm-6.8.0-57.yaml"), []byte(vmProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(dir, "vm-6.8.0-57")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bootingVM answers commands as a VM does whose first boot (btime 1000)
// runs cloud-init on the image's kernel, where lab-boot-kernel sets
// GRUB's default at 2000, and which then reboots (btime 3000) into
// afterKernel. firstSeen is the number of boot checks answered by the
// first boot (0: the VM is first reached after its reboot).
func bootingVM(afterKernel string, firstSeen int) lxdfake.ExecFunc {
	var mu sync.Mutex
	checks := map[string]int{}
	return func(c lxdfake.ExecCall) (string, string, int) {
		mu.Lock()
		defer mu.Unlock()
		cmd := strings.Join(c.Command, " ")
		switch {
		case strings.HasPrefix(cmd, "sh -c uname -r; awk '/^btime/ {print $2}' /proc/stat; stat -c %Y /etc/default/grub.d/99-lab-kernel.cfg"):
			checks[c.Instance]++
			if checks[c.Instance] <= firstSeen {
				return "6.8.0-100-generic\n1000\n0\n", "", 0
			}
			return afterKernel + "\n3000\n2000\n", "", 0
		case cmd == "cloud-init status --wait":
			return "status: done\n", "", 0
		}
		return "", "unexpected command", 127
	}
}

func startFake(t *testing.T, exec lxdfake.ExecFunc) (*lxdfake.Server, provider.ProfileEnver) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lxdfake") // short: a unix socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv, err := lxdfake.Start(dir, exec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	p := lxdprov.NewWith(lxdprov.Options{InstanceType: lxdprov.VirtualMachine, Remote: lxdprov.Remote{Socket: srv.Socket}})
	pe, ok := p.(provider.ProfileEnver)
	if !ok {
		t.Fatalf("the VM provider %T does not start environments from profiles", p)
	}
	if p.Name() != "lxd-vm" {
		t.Errorf("name %q", p.Name())
	}
	return srv, pe
}

// TestVMRequestShapes boots a VM node against the fake LXD and checks
// the exact requests the pinned client sent: the instance's type, source,
// config, devices and cloud-init user-data, its start, the readiness
// commands, and its removal.
func TestVMRequestShapes(t *testing.T) {
	prof := loadVMProfile(t)
	srv, pe := startFake(t, bootingVM("6.8.0-57-generic", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := pe.NewProfileEnv(ctx, "lab-vmtest-0", prof)
	if err != nil {
		t.Fatal(err)
	}
	n, err := env.AddNode(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if u := env.(provider.Userspacer).Userspace(); !strings.Contains(u, "ubuntu:24.04 booted into linux-image-6.8.0-57-generic") {
		t.Errorf("userspace %q", u)
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"cloud-init", "status", "--wait"}, Stdin: []byte("stdin reaches the VM")}); err != nil {
		t.Fatal(err)
	}
	if err := env.Close(ctx); err != nil {
		t.Fatal(err)
	}

	var create api.InstancesPost
	var got []string
	gets := 0
	for _, r := range srv.Requests() {
		if r.Method == "GET" && r.Path == "/1.0" {
			gets++ // the client's connection check and the server's version for the cell
			continue
		}
		got = append(got, r.Method+" "+r.Path)
		if r.Method == "POST" && r.Path == "/1.0/instances" {
			if err := json.Unmarshal(r.Body, &create); err != nil {
				t.Fatal(err)
			}
		}
	}
	if gets == 0 {
		t.Error("the client never asked GET /1.0")
	}
	want := []string{
		"GET /1.0/profiles/default", "POST /1.0/instances",
		"PUT /1.0/instances/lab-vmtest-0-node1/state",
		"POST /1.0/instances/lab-vmtest-0-node1/exec", "POST /1.0/instances/lab-vmtest-0-node1/exec",
		"POST /1.0/instances/lab-vmtest-0-node1/exec", "POST /1.0/instances/lab-vmtest-0-node1/exec",
		"GET /1.0/instances/lab-vmtest-0-node1", "PUT /1.0/instances/lab-vmtest-0-node1/state", "DELETE /1.0/instances/lab-vmtest-0-node1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	ud := create.Config["cloud-init.user-data"]
	delete(create.Config, "cloud-init.user-data")
	if create.Type != api.InstanceTypeVM || create.Name != "lab-vmtest-0-node1" {
		t.Errorf("type %q name %q", create.Type, create.Name)
	}
	if diff := cmp.Diff(api.InstanceSource{Type: "image", Alias: "24.04", Server: "https://cloud-images.ubuntu.com/releases/", Protocol: "simplestreams", Mode: "pull"}, create.Source); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"limits.cpu": "2", "limits.memory": "4GiB", "user.lab.prefix": "lab-vmtest-0",
		"user.lab.node": "node1", "user.lab.profile": "vm-6.8.0-57"}, create.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default", "size": "20GiB"}}, create.Devices); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"default"}, create.Profiles); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(ud, "#cloud-config\n") {
		t.Errorf("user-data does not start with #cloud-config:\n%s", ud)
	}
	var cc struct {
		PackageUpdate bool                                          `yaml:"package_update"`
		Packages      []string                                      `yaml:"packages"`
		RunCmd        [][]string                                    `yaml:"runcmd"`
		WriteFiles    []struct{ Path, Permissions, Content string } `yaml:"write_files"`
		PowerState    struct {
			Mode      string
			Condition bool
		} `yaml:"power_state"`
	}
	if err := yaml.Unmarshal([]byte(ud), &cc); err != nil {
		t.Fatalf("user-data: %v\n%s", err, ud)
	}
	if !cc.PackageUpdate || !cmp.Equal(cc.Packages, []string{"snapd", "linux-image-6.8.0-57-generic", "iptables", "curl"}) ||
		!cmp.Equal(cc.RunCmd, [][]string{{"/usr/local/sbin/lab-boot-kernel", "6.8.0-57-generic"}}) ||
		cc.PowerState.Mode != "reboot" || !cc.PowerState.Condition ||
		len(cc.WriteFiles) != 1 || cc.WriteFiles[0].Path != "/usr/local/sbin/lab-boot-kernel" || cc.WriteFiles[0].Permissions != "0755" ||
		!strings.Contains(cc.WriteFiles[0].Content, "GRUB_DEFAULT=") {
		t.Errorf("user-data:\n%s", ud)
	}

	var cmds []string
	for _, e := range srv.Execs() {
		cmds = append(cmds, fmt.Sprintf("%s: %s <%s>", e.Instance, strings.Join(e.Command, " "), e.Stdin))
	}
	wantCmds := []string{
		"lab-vmtest-0-node1: sh -c uname -r; awk '/^btime/ {print $2}' /proc/stat; stat -c %Y /etc/default/grub.d/99-lab-kernel.cfg 2>/dev/null || echo 0 <>",
		"lab-vmtest-0-node1: sh -c uname -r; awk '/^btime/ {print $2}' /proc/stat; stat -c %Y /etc/default/grub.d/99-lab-kernel.cfg 2>/dev/null || echo 0 <>",
		"lab-vmtest-0-node1: cloud-init status --wait <>",
		"lab-vmtest-0-node1: cloud-init status --wait <stdin reaches the VM>",
	}
	if diff := cmp.Diff(wantCmds, cmds); diff != "" {
		t.Errorf("commands in the VM (-want +got):\n%s", diff)
	}
	if left := srv.Instances(); len(left) != 0 {
		t.Errorf("instances left: %v", left)
	}
}

// TestVMWrongKernel: a VM that rebooted into another kernel than the
// pinned one fails its boot, naming both, and Close still removes it.
func TestVMWrongKernel(t *testing.T) {
	prof := loadVMProfile(t)
	srv, pe := startFake(t, bootingVM("6.8.0-100-generic", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := pe.NewProfileEnv(ctx, "lab-vmtest-1", prof)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.AddNode(ctx, "node1")
	if err == nil || !strings.Contains(err.Error(), "rebooted into kernel 6.8.0-100-generic, not the pinned 6.8.0-57-generic") {
		t.Errorf("AddNode: %v", err)
	}
	if err := env.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left := srv.Instances(); len(left) != 0 {
		t.Errorf("instances left after a failed boot: %v", left)
	}
}

// TestVMFirstReachedAfterReboot: a VM whose agent first answers after
// cloud-init's reboot is ready at once, with no poll wait.
func TestVMFirstReachedAfterReboot(t *testing.T) {
	prof := loadVMProfile(t)
	srv, pe := startFake(t, bootingVM("6.8.0-57-generic", 0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := pe.NewProfileEnv(ctx, "lab-vmtest-4", prof)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	start := time.Now()
	if _, err := env.AddNode(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Execs()); n != 2 || time.Since(start) > time.Second {
		t.Errorf("%d commands in %s, want the boot check and cloud-init's wait, without polling", n, time.Since(start))
	}
}

// TestVMUserDataKey: a daemon without the cloud_init extension (LXD
// before 5.5) gets user.user-data; a profile without a VM is refused.
func TestVMUserDataKey(t *testing.T) {
	prof := loadVMProfile(t)
	prof.VM.KernelPackage = "" // no reboot: ready after the first answer
	srv, pe := startFake(t, bootingVM("", 1))
	srv.Extensions = []string{"instances", "virtual-machines"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := pe.NewProfileEnv(ctx, "lab-vmtest-2", prof)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	if _, err := env.AddNode(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Requests() {
		if r.Method == "POST" && r.Path == "/1.0/instances" {
			var create api.InstancesPost
			if err := json.Unmarshal(r.Body, &create); err != nil {
				t.Fatal(err)
			}
			ud, ok := create.Config["user.user-data"]
			if !ok || create.Config["cloud-init.user-data"] != "" || strings.Contains(ud, "power_state") || strings.Contains(ud, "linux-image") {
				t.Errorf("config %v", create.Config)
			}
		}
	}
	plain := *prof
	plain.VM = profile.VM{}
	if _, err := pe.NewProfileEnv(ctx, "lab-vmtest-3", &plain); err == nil || !strings.Contains(err.Error(), "set vm.image") {
		t.Errorf("a profile without a VM: %v", err)
	}
}

// TestVMRefusalHere asks this machine's LXD for VM mode: where LXD
// refuses virtual machines (no vhost_vsock, no qemu driver) the provider
// is unavailable with LXD's own reason, and its probe instance is gone;
// on real infrastructure Check passes.
func TestVMRefusalHere(t *testing.T) {
	available(t)
	p := lxdprov.NewVM()
	err := p.Check(context.Background())
	if err == nil {
		t.Log("this LXD runs virtual machines")
		return
	}
	var ue *provider.UnavailableError
	if !errors.As(err, &ue) || ue.Provider != "lxd-vm" || !strings.Contains(ue.Reason, "refuses a virtual machine: ") {
		t.Fatalf("Check: %v", err)
	}
	if left, err := p.Leftovers(context.Background(), "lab-vmprobe-"); err != nil || len(left) > 0 {
		t.Errorf("the probe VM is left: %v, %v", left, err)
	}
	t.Skipf("VM mode needs real infrastructure; here: %s", ue.Reason)
}

// TestVMNetworkAndRemove connects a VM node to a cell network through the
// fake LXD: the bridge's config, the NIC hot-plugged into the VM, the
// address set inside by MAC; then Remove of the prefix deletes the VM and
// the network, and Leftovers sees nothing.
func TestVMNetworkAndRemove(t *testing.T) {
	prof := loadVMProfile(t)
	prof.VM.KernelPackage = ""
	srv, pe := startFake(t, func(c lxdfake.ExecCall) (string, string, int) {
		if strings.HasPrefix(strings.Join(c.Command, " "), "sh -c uname -r") {
			return "6.8.0-100-generic\n1000\n0\n", "", 0
		}
		return "", "", 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := pe.NewProfileEnv(ctx, "lab-vmtest-5", prof)
	if err != nil {
		t.Fatal(err)
	}
	n, err := env.AddNode(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Connect(ctx, n, "public", "lab0", netip.MustParsePrefix("198.51.100.10/24")); err != nil {
		t.Fatal(err)
	}
	nets := srv.Networks()
	if len(nets) != 1 {
		t.Fatalf("networks %v", nets)
	}
	var netPost api.NetworksPost
	var put api.InstancePut
	for _, r := range srv.Requests() {
		switch {
		case r.Method == "POST" && r.Path == "/1.0/networks":
			if err := json.Unmarshal(r.Body, &netPost); err != nil {
				t.Fatal(err)
			}
		case r.Method == "PUT" && r.Path == "/1.0/instances/lab-vmtest-5-node1":
			if err := json.Unmarshal(r.Body, &put); err != nil {
				t.Fatal(err)
			}
		}
	}
	if netPost.Type != "bridge" || netPost.Config["ipv4.address"] != "none" || netPost.Config["ipv4.nat"] != "false" ||
		netPost.Config["user.lab.prefix"] != "lab-vmtest-5" || netPost.Config["user.lab.subnet"] != "198.51.100.0/24" {
		t.Errorf("network request %+v", netPost)
	}
	// joined by LXD's network key (a bridge network on a cluster exists on
	// every member; parent would be checked in the daemon's own /sys)
	if diff := cmp.Diff(map[string]string{"type": "nic", "network": nets[0], "name": "lab0"}, put.Devices["lab0"]); diff != "" {
		t.Errorf("the VM's NIC (-want +got):\n%s", diff)
	}
	execs := srv.Execs()
	last := execs[len(execs)-1].Command
	if len(last) != 7 || last[3] != "setup-nic" || !strings.HasPrefix(last[4], "00:16:3e:") || last[5] != "lab0" || last[6] != "198.51.100.10/24" {
		t.Errorf("address set inside the VM with %q", last)
	}
	p := lxdprov.NewWith(lxdprov.Options{InstanceType: lxdprov.VirtualMachine, Remote: lxdprov.Remote{Socket: srv.Socket}})
	if left, err := p.Leftovers(ctx, "lab-vmtest-5"); err != nil || len(left) != 2 {
		t.Errorf("before Remove: %v, %v", left, err)
	}
	if err := p.Remove(ctx, "lab-vmtest-5"); err != nil {
		t.Fatal(err)
	}
	if left, err := p.Leftovers(ctx, "lab-vmtest-5"); err != nil || len(left) != 0 || len(srv.Instances()) != 0 || len(srv.Networks()) != 0 {
		t.Errorf("after Remove: %v, %v; instances %v, networks %v", left, err, srv.Instances(), srv.Networks())
	}
}
