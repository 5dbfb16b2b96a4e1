package features

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/feature"
	"lab/harness/results"
	"lab/scenarios"
)

// TestVocabularyFeatures runs the test features in testdata/: each uses
// steps added for issue 12, written from features/README.md alone, and
// passes `lab check` first.
func TestVocabularyFeatures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.feature")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test features: %v", err)
	}
	if probs, _ := scenarios.NewChecker("../images").Files(files); len(probs) > 0 {
		t.Fatalf("lab check: %v", probs)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".feature"), func(t *testing.T) { runCells(t, f, nil) })
	}
}

// TestCountingAMissingChainIsAnError: a chain that does not exist is a lab
// error naming the chains there are, not a count of 0.
func TestCountingAMissingChainIsAnError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "missing-chain.feature")
	writeFile(t, f, `Feature: f
  Scenario Outline: s on <profile>
    Given a node "node1"
    When I count the jumps in chain "NO-SUCH-CHAIN" of table "nat" on "node1" as "jumps"
    Then observation "jumps" should be "0"
    Examples:
      | profile         |
      | microk8s-1.31.6 |
`)
	ft, err := feature.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	res := cellOptions(t, "../images").Cell(context.Background(), 0, ft.Cells[0])
	if res.Status != results.Error || !strings.Contains(res.Error, "no chain NO-SUCH-CHAIN in table nat") {
		t.Errorf("status %s, error %q; want error naming the missing chain", res.Status, res.Error)
	}
}

// TestNetworkFactsPinnedAndRan: a profile's sysctls, MTUs and kube-proxy
// mode are recorded as pinned (what it asked) and read back inside the node
// as ran facts.
func TestNetworkFactsPinnedAndRan(t *testing.T) {
	f := filepath.Join(t.TempDir(), "facts.feature")
	writeFile(t, f, `Feature: f
  Scenario Outline: s on <profile>
    Given a node "node1"
    And a pod "a" on "node1" serving HTTP with hostPorts "8080:80"
    When I run "true" on "node1" as "t"
    Then observation "t_exit" should be "0"
    Examples:
      | profile               |
      | microk8s-1.31.6-tuned |
`)
	ft, err := feature.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	res := cellOptions(t, "../images").Cell(context.Background(), 0, ft.Cells[0])
	if res.Status != results.Passed {
		t.Fatalf("status %s: %s", res.Status, res.Error)
	}
	pinned := map[string]string{"sysctl net.ipv4.ip_local_port_range": "40000 40999", "sysctl net.ipv4.conf.all.rp_filter": "1",
		"uplink_mtu": "1400", "pod_mtu": "1400", "kube_proxy_mode": "iptables"}
	for k, want := range pinned {
		if got := res.Pinned[k]; got != want {
			t.Errorf("pinned %s = %q, want %q", k, got, want)
		}
	}
	ran := map[string]string{"sysctl net.ipv4.ip_local_port_range": "40000 40999", "sysctl net.ipv4.conf.all.rp_filter": "1",
		"uplink_mtu": "1400 (eth0)", "pod_mtu": "1400 (host ends of 1 pod veths)"}
	for k, want := range ran {
		if got := res.Ran["node1"][k]; got != want {
			t.Errorf("ran node1 %s = %q, want %q", k, got, want)
		}
	}
}
