package sim

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lab/harness/gateway"
)

// TestPodEgressThroughProviderFirewall measures pod and node egress through
// the hetzner-default gateway before and after the node-side fix.
func TestPodEgressThroughProviderFirewall(t *testing.T) {
	c := newCluster(t, "hetzner-default")
	ctx := context.Background()
	n, _, pod := routedPod(t, c, "app", 0)
	pool := testPool
	if _, err := c.AddGateway(ctx, "gw", netip.MustParsePrefix("203.0.113.0/24"), []*Node{n}); err != nil {
		t.Fatal(err)
	}
	web, err := c.AddInternetHost(ctx, "web", "gw", 80)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.MasqueradePodEgress(ctx, pool, []string{"--random-fully"}); err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(web.Addr, 80)
	measure := func(src Source) gateway.Egress {
		t0 := time.Now()
		e, err := gateway.Measure(ctx, web.Gateway.Gateway, src, web, dst, 200, 100, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d connections in %v: %v, ports %d-%d (%d distinct), outside ACK range %.1f%%, dropped %d flows / %d packets, slowest OK %v",
			e.Batch.N, time.Since(t0).Round(time.Millisecond), e.Batch.Outcomes, e.SourcePorts[0], e.SourcePorts[len(e.SourcePorts)-1],
			len(e.SourcePorts), e.PredictedFailureRate(), e.DroppedFlows, e.DroppedPackets, e.Batch.SlowestOK)
		return e
	}
	// The node first: a node flow whose port a pod flow to the same server
	// already holds in conntrack is remapped to a random port (see the
	// hetzner-port-range feature), which could then be dropped too.
	if h := measure(Source{Host: n}); h.Batch.Failures != 0 || h.SourcePorts[0] < 32768 || h.SourcePorts[len(h.SourcePorts)-1] > 60999 {
		t.Errorf("node egress: %d failures, ports %d-%d; want none, inside 32768-60999", h.Batch.Failures, h.SourcePorts[0], h.SourcePorts[len(h.SourcePorts)-1])
	}
	e := measure(Source{Host: n, Pod: pod.NS})
	if rate := e.Batch.FailureRate(); rate < 35 || rate > 63 {
		t.Errorf("pod failure rate %.1f%%, want about 49%%", rate)
	}
	if e.SourcePorts[0] >= 32768 || e.SourcePorts[len(e.SourcePorts)-1] < 32768 {
		t.Errorf("masqueraded ports %d-%d do not straddle 32768", e.SourcePorts[0], e.SourcePorts[len(e.SourcePorts)-1])
	}
	// The failures are the gateway's drops: at least half of the failed
	// connections are flows the gateway dropped inbound packets of (a
	// connection slow for other reasons on a loaded machine may fail too),
	// and never more flows than failures.
	if 2*e.DroppedFlows < e.Batch.Failures || e.DroppedFlows > e.Batch.Failures {
		t.Errorf("dropped flows %d for %d failures; want the drops to account for the failures", e.DroppedFlows, e.Batch.Failures)
	}
	if _, err := n.MasqueradePodEgress(ctx, pool, []string{"--to-ports", "32768-65535", "--random-fully"}); err != nil {
		t.Fatal(err)
	}
	if f := measure(Source{Host: n, Pod: pod.NS}); f.Batch.Failures != 0 || f.SourcePorts[0] < 32768 {
		t.Errorf("after the fix: %d failures, lowest port %d", f.Batch.Failures, f.SourcePorts[0])
	}
}

func TestMasqueradeRules(t *testing.T) {
	pool := netip.MustParsePrefix("10.1.0.0/16")
	got := MasqueradeRules(pool, []string{"--random-fully"})
	if len(got) != 1 || strings.Join(got[0], " ") != "-s 10.1.0.0/16 ! -d 10.1.0.0/16 -j MASQUERADE --random-fully" {
		t.Errorf("plain rule = %q", got)
	}
	got = MasqueradeRules(pool, []string{"--to-ports", "32768-65535", "--random-fully"})
	want := []string{
		"-s 10.1.0.0/16 ! -d 10.1.0.0/16 -p tcp -j MASQUERADE --to-ports 32768-65535 --random-fully",
		"-s 10.1.0.0/16 ! -d 10.1.0.0/16 -p udp -j MASQUERADE --to-ports 32768-65535 --random-fully",
		"-s 10.1.0.0/16 ! -d 10.1.0.0/16 -j MASQUERADE --random-fully",
	}
	if len(got) != len(want) {
		t.Fatalf("ranged rules = %q", got)
	}
	for i := range want {
		if g := strings.Join(got[i], " "); g != want[i] {
			t.Errorf("rule %d = %q, want %q", i, g, want[i])
		}
	}
}
