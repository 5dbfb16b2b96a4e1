package features

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"lab/harness/feature"
	"lab/harness/results"
)

var version = regexp.MustCompile(`^\d+\.\d+`)

// TestCellEnvironment checks that a cell records what really ran, read
// inside each node, apart from what the profile only pins: a Calico cell
// shows the routed pod network it built (never flannel), a firewalld cell
// the firewalld version the node ran.
func TestCellEnvironment(t *testing.T) {
	opts := cellOptions(t, "../images")
	ft, err := feature.Parse("rhel-firewalld.feature")
	if err != nil {
		t.Fatal(err)
	}
	var cell *feature.Cell
	for i := range ft.Cells {
		if ft.Cells[i].Profile == "rhel-9.5" {
			cell = &ft.Cells[i]
			break
		}
	}
	if cell == nil {
		t.Fatal("rhel-firewalld has no rhel-9.5 cell")
	}
	res := opts.Cell(context.Background(), 0, *cell)
	if res.Status != results.Passed {
		t.Fatalf("cell %s: %s: %s", res.ID, res.Status, res.Error)
	}
	n := res.Ran["node1"]
	if n == nil {
		t.Fatalf("no facts for node1: %v", res.Ran)
	}
	for _, k := range []string{"kernel", "iptables_legacy", "iptables_nft", "nft", "firewalld", "iproute2"} {
		if n[k] == "" || k != "kernel" && !version.MatchString(n[k]) {
			t.Errorf("node1 fact %s = %q, want a version read in the node", k, n[k])
		}
	}
	if strings.Contains(n["firewalld"], "not running") {
		t.Errorf("firewalld fact %q: the rhel-9.5 node runs firewalld", n["firewalld"])
	}
	// The ingress's hostPorts: the real portmap plugin, chained after the
	// routed pod, at the version the profile pins.
	if v := n["cni_plugins"]; v != "v1.6.0" {
		t.Errorf("cni_plugins = %q, want v1.6.0: the portmap plugin publishing the ingress's hostPorts, at the profile's pin", v)
	}
	if !strings.HasPrefix(n["kube_proxy"], "v1.32.2 (Kubernetes' iptables Proxier") {
		t.Errorf("kube_proxy = %q, want the v1.32.2 binary the profile pins", n["kube_proxy"])
	}
	if !strings.HasPrefix(n["pod_network"], "calico") {
		t.Errorf("pod_network = %q, want the Calico-style routed network the cell built", n["pod_network"])
	}
	if res.Ran["client"]["role"] != "client" {
		t.Errorf("client facts: %v", res.Ran["client"])
	}
	if v, ok := res.Pinned["cni"]; ok {
		t.Errorf("pinned cni = %q on a Calico cell", v)
	}
	if res.Pinned["distro"] == "" || res.Pinned["profile"] != "rhel-9.5" {
		t.Errorf("pinned = %v, want the profile's distro", res.Pinned)
	}
	if !strings.Contains(res.Environment["node_userspace"], "host") {
		t.Errorf("environment does not say netns nodes run the host's binaries: %v", res.Environment)
	}
}

// TestRunSeesOwnNamespaces runs a feature written from the docs whose
// `I run` steps look at the node from inside: the node's PID and mount
// namespaces are its own (not the host's), and `pkill firewalld` on one
// node leaves the other node's firewalld running.
func TestRunSeesOwnNamespaces(t *testing.T) {
	host := map[string]string{}
	for _, ns := range []string{"pid", "mnt"} {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Skip(err)
		}
		host[ns] = l
	}
	src := `Feature: node isolation
  Scenario Outline: a node's commands see the node only
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a Calico node "node2" with pod CIDRs "10.2.0.0/16"
    When I run "readlink /proc/self/ns/pid /proc/self/ns/mnt" on "node1"
    And I run "pkill -x firewalld" on "node1"
    Then I run "firewall-cmd --state" on "node2"

    Examples:
      | profile  |
      | rhel-9.5 |
`
	f := filepath.Join(t.TempDir(), "isolation.feature")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	runCells(t, f, func(t *testing.T, c *results.Cell) {
		var ns string
		for _, e := range c.Evidence {
			if strings.HasPrefix(e.Name, "readlink") {
				ns = e.Text
			}
		}
		if ns == "" || strings.Contains(ns, host["pid"]) || strings.Contains(ns, host["mnt"]) {
			t.Errorf("node1's namespaces %q include the host's %v", ns, host)
		}
	})
}
