package inspect

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/kernel"
	"lab/harness/netns"
	"lab/harness/testenv"
)

// TestGatherKernel inspects a throwaway namespace set up like a WSL2 node
// next to Docker (legacy rules accepting pod traffic, iptables-nft's FORWARD
// policy DROP) with the environment of a kernel profile hiding `recent`: the
// report must count the rules per variant, read both policies, report recent
// as missing in both families and the others as available, name the
// problems, and leave the inspected namespace's rules exactly as they were.
func TestGatherKernel(t *testing.T) {
	_, lib := testenv.Prereqs(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "lab-intest-" + hex.EncodeToString(b)
	path, err := netns.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = netns.Delete(context.Background(), name) }()
	setup := netns.Runner{Path: path}
	for _, argv := range [][]string{
		{"iptables-legacy", "-A", "FORWARD", "-s", "10.1.0.0/16", "-j", "ACCEPT"},
		{"iptables-legacy", "-A", "FORWARD", "-d", "10.1.0.0/16", "-j", "ACCEPT"},
		{"iptables-nft", "-P", "FORWARD", "DROP"},
	} {
		if _, err := setup.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() string {
		var s strings.Builder
		for _, argv := range [][]string{{"iptables-legacy-save"}, {"ip6tables-legacy-save"}, {"nft", "list", "ruleset"}} {
			out, err := execx.Output(ctx, setup, argv...)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(out, "\n") {
				if !strings.HasPrefix(l, "#") {
					s.WriteString(l + "\n")
				}
			}
		}
		return s.String()
	}
	before := snapshot()
	env := kernel.Env(lib, []kernel.Hidden{{Family: "ipv4", Kind: "match", Name: "recent"}, {Family: "ipv6", Kind: "match", Name: "recent"}})
	snap := t.TempDir()
	if err := os.MkdirAll(filepath.Join(snap, "args", "cni-network"), 0o755); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("testdata/cni.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snap, "args", "cni-network", "cni.yaml"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Gather(ctx, Options{Target: "test node", Runner: netns.Runner{Path: path, Env: env}, Env: env, SnapDir: snap})
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshot(); after != before {
		t.Errorf("inspect changed the inspected namespace's rules:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if left, _ := netns.List(NamespacePrefix); len(left) > 0 {
		t.Errorf("probe namespaces left behind: %v", left)
	}
	pol := map[string]string{}
	total := map[string]int{}
	for _, v := range rep.Variants {
		pol[v.Name+"/"+v.Family] = v.ForwardPolicy
		total[v.Name+"/"+v.Family] = v.Total()
		if v.Error != "" {
			t.Errorf("variant %s/%s: %s", v.Name, v.Family, v.Error)
		}
	}
	if pol["legacy/ipv4"] != "ACCEPT" || pol["nft/ipv4"] != "DROP" || total["legacy/ipv4"] != 2 || total["nft/ipv4"] != 0 {
		t.Errorf("policies %v, rules %v", pol, total)
	}
	missing := strings.Join(rep.Missing(), ",")
	if !strings.Contains(missing, "ipv4 match recent") || !strings.Contains(missing, "ipv6 match recent") {
		t.Errorf("recent not reported missing: %v", rep.Missing())
	}
	for _, e := range rep.Extensions {
		if e.Name == "MARK" || e.Name == "comment" || e.Name == "conntrack" || e.Name == "set" {
			if !e.Available {
				t.Errorf("%s %s reported missing on this kernel: %s", e.Family, e.Name, e.Detail)
			}
		}
	}
	if rep.FelixBackend != "Legacy" {
		t.Errorf("felix backend = %q, want Legacy from cni.yaml", rep.FelixBackend)
	}
	if b := felixBackend(t.TempDir()); b != "not installed" {
		t.Errorf("felix backend without cni.yaml = %q", b)
	}
	var probs []string
	for _, p := range rep.Problems {
		probs = append(probs, p.Message)
	}
	all := strings.Join(probs, "\n")
	want := []string{"match recent is missing", "iptables-nft FORWARD policy is DROP"}
	if rep.IptablesVariant == "nft" {
		want = append(want, "Felix writes its rules with iptables-legacy")
	}
	for _, want := range want {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	var text bytes.Buffer
	if err := Render(&text, rep); err != nil || !strings.Contains(text.String(), "MISSING") {
		t.Errorf("render: %v\n%s", err, text.String())
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
	t.Logf("\n%s", text.String())
}
