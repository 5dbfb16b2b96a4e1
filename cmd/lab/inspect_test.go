package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"lab/harness/execx"
	"lab/harness/inspect"
	"lab/harness/netns"
	"lab/harness/testenv"
)

// TestInspectHostTruth runs `lab inspect --json` on this host and checks it
// against what the tools themselves say (iptables -V, iptables-legacy-save,
// iptables-nft-save, -S FORWARD), and that it changed nothing on the host
// and left no probe namespace.
func TestInspectHostTruth(t *testing.T) {
	testenv.Root(t)
	ctx := context.Background()
	before := hostState(t)
	code, stdout, stderr := lab("inspect", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if after := hostState(t); after != before {
		t.Errorf("lab inspect changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if left, _ := netns.List(inspect.NamespacePrefix); len(left) > 0 {
		t.Errorf("probe namespaces left: %v", left)
	}
	var rep inspect.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	out := func(argv ...string) string {
		s, err := execx.Output(ctx, execx.Host{}, argv...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if v := strings.TrimSpace(out("iptables", "-V")); rep.IptablesVersion != v {
		t.Errorf("iptables version %q, iptables -V says %q", rep.IptablesVersion, v)
	}
	rules := func(save string) int { return strings.Count("\n"+save, "\n-A ") }
	variant := map[string]inspect.Variant{}
	for _, v := range rep.Variants {
		variant[v.Name+"/"+v.Family] = v
	}
	if got, want := variant["legacy/ipv4"].Total(), rules(out("iptables-legacy-save")); got != want {
		t.Errorf("legacy ipv4 rules %d, iptables-legacy-save has %d", got, want)
	}
	if got, want := variant["legacy/ipv6"].Total(), rules(out("ip6tables-legacy-save")); got != want {
		t.Errorf("legacy ipv6 rules %d, ip6tables-legacy-save has %d", got, want)
	}
	if nftSave := out("iptables-nft-save"); !strings.Contains(nftSave, "incompatible") {
		if got, want := variant["nft/ipv4"].Total(), rules(nftSave); got != want {
			t.Errorf("nft ipv4 rules %d, iptables-nft-save has %d", got, want)
		}
		pol, err := inspect.ParseForwardPolicy(out("iptables-nft", "-S", "FORWARD"))
		if err != nil || variant["nft/ipv4"].ForwardPolicy != pol {
			t.Errorf("nft FORWARD policy %q, iptables-nft -S FORWARD says %q (%v)", variant["nft/ipv4"].ForwardPolicy, pol, err)
		}
	}
	if strings.Contains(out("cat", "/proc/net/ip_tables_names"), "filter") {
		pol, err := inspect.ParseForwardPolicy(out("iptables-legacy", "-S", "FORWARD"))
		if err != nil || variant["legacy/ipv4"].ForwardPolicy != pol {
			t.Errorf("legacy FORWARD policy %q, iptables-legacy -S FORWARD says %q (%v)", variant["legacy/ipv4"].ForwardPolicy, pol, err)
		}
	}
	if len(rep.Extensions) != 2*len(inspect.Specs()) {
		t.Errorf("%d extensions probed, want %d", len(rep.Extensions), 2*len(inspect.Specs()))
	}
	if code, _, stderr := lab("inspect", "--cell", "x"); code != exitUsage || !strings.Contains(stderr, "--cell needs --node") {
		t.Errorf("inspect --cell without --node: exit %d %q", code, stderr)
	}
}
