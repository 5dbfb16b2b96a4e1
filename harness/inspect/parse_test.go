package inspect

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseVersion(t *testing.T) {
	for out, want := range map[string][2]string{
		"iptables v1.8.9 (nf_tables)\n": {"1.8.9", "nft"},
		"iptables v1.8.6 (legacy)":      {"1.8.6", "legacy"},
		"iptables v1.6.1":               {"1.6.1", "legacy"},
		"garbage":                       {"", ""},
	} {
		v, m := ParseVersion(out)
		if v != want[0] || m != want[1] {
			t.Errorf("ParseVersion(%q) = %q, %q; want %q, %q", out, v, m, want[0], want[1])
		}
	}
}

func TestCountRules(t *testing.T) {
	got, err := CountRules(read(t, "legacy.save"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"mangle": 2, "filter": 1}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, err := CountRules(""); err != nil || len(got) != 0 {
		t.Errorf("empty dump: %v, %v", got, err)
	}
	if _, err := CountRules("-A FORWARD -j ACCEPT\n"); err == nil {
		t.Error("rule outside a table accepted")
	}
}

// TestParseNFT reads a real `nft -j list ruleset` of a host where Docker
// set iptables-nft's FORWARD policy to DROP.
func TestParseNFT(t *testing.T) {
	n, err := ParseNFT([]byte(read(t, "nft-docker.json")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"ip nat": 4, "ip filter": 11}, n.Rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if got := n.Policy(false, "FORWARD"); got != "DROP" {
		t.Errorf("ip FORWARD policy = %q, want DROP", got)
	}
	if got := n.Policy(true, "FORWARD"); got != "ACCEPT" {
		t.Errorf("ip6 FORWARD policy (no table) = %q, want ACCEPT", got)
	}
	if _, err := ParseNFT([]byte("not json")); err == nil {
		t.Error("bad JSON accepted")
	}
	empty, err := ParseNFT([]byte(`{"nftables": [{"metainfo": {"version": "1.0.6"}}]}`))
	if err != nil || len(empty.Rules) != 0 || empty.Policy(false, "FORWARD") != "ACCEPT" {
		t.Errorf("empty ruleset: %+v, %v", empty, err)
	}
}

func TestParseForwardPolicy(t *testing.T) {
	if p, err := ParseForwardPolicy("-P FORWARD DROP\n-A FORWARD -j KUBE-FORWARD\n"); err != nil || p != "DROP" {
		t.Errorf("got %q, %v", p, err)
	}
	if _, err := ParseForwardPolicy("-N FOO\n"); err == nil {
		t.Error("no policy line accepted")
	}
}

func TestFelixBackend(t *testing.T) {
	if got := FelixBackend(read(t, "cni.yaml")); got != "Legacy" {
		t.Errorf("FelixBackend = %q, want Legacy", got)
	}
	if got := FelixBackend("env:\n  - name: FELIX_IPV6SUPPORT\n    value: \"false\"\n"); got != "" {
		t.Errorf("unset backend = %q, want empty", got)
	}
}

func TestWarnings(t *testing.T) {
	out := "Warning: Extension MARK revision 0 not supported, missing kernel module?\n" +
		"ip6tables-restore v1.8.9 (legacy): MARK: bad value for option \"--set-mark\"\n" +
		"Warning: Extension recent revision 0 not supported, missing kernel module?\n" +
		"Warning: Extension MARK revision 0 not supported, missing kernel module?\n"
	if diff := cmp.Diff([]string{"MARK", "recent"}, Warnings(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if Warnings("all fine") != nil {
		t.Error("warnings in clean output")
	}
}

func TestNodeNamespace(t *testing.T) {
	run, cell, node, ok := NodeNamespace("lab-3fa9c1-2-h-node1")
	if !ok || run != "3fa9c1" || cell != "2" || node != "node1" {
		t.Errorf("got %q %q %q %v", run, cell, node, ok)
	}
	for _, bad := range []string{"lab-3fa9c1-2-p-node1-web-1", "lab-inspect-01020304", "other-1-2-h-x", "lab-3fa9c1-h-node1"} {
		if _, _, _, ok := NodeNamespace(bad); ok {
			t.Errorf("NodeNamespace(%q) accepted", bad)
		}
	}
}

func TestClassifyAndProblems(t *testing.T) {
	specs := map[string]Spec{}
	for _, s := range Specs() {
		specs[s.Name] = s
		if s.Table == "" || s.Chain == "" || len(s.Args4) == 0 || len(s.Args6) == 0 || s.UsedBy == "" || s.Module == "" {
			t.Errorf("incomplete spec %+v", s)
		}
	}
	for _, want := range []string{"recent", "MARK", "CONNMARK", "comment", "conntrack", "multiport", "addrtype", "statistic", "mark", "set", "MASQUERADE", "DNAT", "SNAT", "REJECT", "NFQUEUE", "ipvs"} {
		if _, ok := specs[want]; !ok {
			t.Errorf("no probe for %s", want)
		}
	}
	if ok, _ := Classify(specs["set"], "iptables v1.8.9 (legacy): Set labprobe doesn't exist.\n", errFake); !ok {
		t.Error("set match: a missing set means the extension is there")
	}
	ok, detail := Classify(specs["recent"], "Warning: Extension recent revision 0 not supported, missing kernel module?\niptables: No chain/target/match by that name.\n", errFake)
	if ok || !strings.Contains(detail, "Extension recent revision 0") {
		t.Errorf("recent: %v %q", ok, detail)
	}
	r := &Report{
		IptablesVariant: "nft",
		FelixBackend:    "Legacy",
		Variants: []Variant{
			{Name: "legacy", Family: "ipv4", Rules: map[string]int{"filter": 3}, ForwardPolicy: "ACCEPT"},
			{Name: "nft", Family: "ipv4", Rules: map[string]int{"ip filter": 5}, ForwardPolicy: "DROP"},
			{Name: "nft", Family: "other", Rules: map[string]int{"inet firewalld": 9}, ForwardPolicy: "ACCEPT"},
		},
		Extensions: []Extension{
			{Name: "MARK", Kind: "target", Family: "ipv4", Available: true},
			{Name: "MARK", Kind: "target", Family: "ipv6", Detail: "Warning: Extension MARK revision 0 not supported, missing kernel module?"},
			{Name: "recent", Kind: "match", Family: "ipv4"},
			{Name: "recent", Kind: "match", Family: "ipv6"},
			{Name: "NFQUEUE", Kind: "target", Family: "ipv4"},
		},
	}
	ps := Problems(r)
	var text []string
	for _, p := range ps {
		text = append(text, p.Message+" | "+p.Fix)
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{
		"ipv6 target MARK is missing", "306ed1728e84",
		"ipv4+ipv6 match recent is missing", "sessionAffinity: ClientIP",
		"ipv4 target NFQUEUE is missing", "modprobe xt_NFQUEUE",
		"split across iptables-legacy (3 rules) and iptables-nft (5 rules)",
		"iptables-nft FORWARD policy is DROP", "sudo iptables-nft -P FORWARD ACCEPT",
		"FELIX_IPTABLESBACKEND",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	if len(ps) != 6 {
		t.Errorf("%d problems, want 6:\n%s", len(ps), all)
	}
	if got := Problems(&Report{}); len(got) != 0 {
		t.Errorf("problems on a clean report: %v", got)
	}
}

type fakeErr struct{}

func (fakeErr) Error() string { return "exit status 1" }

var errFake error = fakeErr{}
