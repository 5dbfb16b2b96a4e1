package features

import (
	"context"
	"strings"
	"testing"

	"lab/harness/feature"
	"lab/harness/results"
)

// TestForwardDropDecidesTheProbe: in the wsl2 cells where iptables-nft's
// FORWARD chain drops the pods' traffic by its DROP policy, the pod-to-pod
// probe is decided on the node's policy counter (a positive signal), not by
// waiting out its timeout, and the verdict stays reproduced.
func TestForwardDropDecidesTheProbe(t *testing.T) {
	ft, err := feature.Parse("wsl2-missing-modules.feature")
	if err != nil {
		t.Fatal(err)
	}
	opts := cellOptions(t, "../images")
	n := 0
	for i, c := range ft.Cells {
		if c.Profile != "microk8s-1.29-wsl2-docker" || !strings.Contains(c.Source(), `"pod_to_pod"`) || expected(c) != "present" {
			continue
		}
		n++
		res := opts.Cell(context.Background(), i, c)
		checkVerdict(t, c, res)
		if res.Observations["pod_to_pod"] != "timeout" {
			t.Errorf("cell %s: pod_to_pod = %v, want timeout", res.ID, res.Observations["pod_to_pod"])
		}
		ev := evidence(res, "pod_to_pod: probe")
		if !strings.Contains(ev, "decided by a positive signal") || !strings.Contains(ev, "FORWARD chain (iptables-nft, IPv4) has policy DROP") {
			t.Errorf("cell %s: the probe was not decided on the FORWARD policy's counter:\n%s", res.ID, ev)
		}
	}
	if n == 0 {
		t.Fatal("no wsl2-docker cell probes pod to pod with the failure present")
	}
}

// evidence returns the text of the cell's evidence named name.
func evidence(res *results.Cell, name string) string {
	for _, e := range res.Evidence {
		if e.Name == name {
			return e.Text
		}
	}
	return ""
}
