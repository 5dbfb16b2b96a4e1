package sim

import (
	"strings"
	"testing"
)

// TestKubeliteForwardRules: the commands are run-kubelite-with-args' own
// at the v1.29 tag (lines 88-95), with the snap's `iptables` as
// iptables-legacy.
func TestKubeliteForwardRules(t *testing.T) {
	check, appends := KubeliteForwardRules("10.1.0.0/16")
	want := []string{
		`iptables-legacy -t filter -A FORWARD -s 10.1.0.0/16 -m comment --comment generated for MicroK8s pods -j ACCEPT`,
		`iptables-legacy -t filter -A FORWARD -d 10.1.0.0/16 -m comment --comment generated for MicroK8s pods -j ACCEPT`,
		`iptables-nft -t filter -A FORWARD -s 10.1.0.0/16 -m comment --comment generated for MicroK8s pods -j ACCEPT`,
		`iptables-nft -t filter -A FORWARD -d 10.1.0.0/16 -m comment --comment generated for MicroK8s pods -j ACCEPT`,
	}
	if got := strings.Join(check, " "); got != `iptables-legacy -C FORWARD -s 10.1.0.0/16 -m comment --comment generated for MicroK8s pods -j ACCEPT` {
		t.Errorf("check = %s", got)
	}
	if len(appends) != len(want) {
		t.Fatalf("%d appends, want %d", len(appends), len(want))
	}
	for i, a := range appends {
		if got := strings.Join(a, " "); got != want[i] {
			t.Errorf("append %d = %s\nwant %s", i, got, want[i])
		}
	}
}
