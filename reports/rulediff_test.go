package reports

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"lab/harness/results"
)

func TestRuleLines(t *testing.T) {
	got := ruleLines(natDump(false))
	want := []string{
		"*nat",
		":PREROUTING ACCEPT",
		":CNI-DN-<id> -",
		":CNI-HOSTPORT-DNAT -",
		"-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
		"-A CNI-DN-<id> -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.1.84.2:80",
		"-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 80 -j CNI-DN-<id>",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ruleLines (-want +got):\n%s", d)
	}
	// Generated chains' rules are sorted; named chains keep their order.
	dump := "*filter\n-A FORWARD -j B\n-A FORWARD -j A\n-A CNI-DN-bbbbbbbbbbbbbbbb -j Z\n-A CNI-DN-aaaaaaaaaaaaaaaa -j Y\nCOMMIT\n"
	want = []string{"*filter", "-A FORWARD -j B", "-A FORWARD -j A", "-A CNI-DN-<id> -j Y", "-A CNI-DN-<id> -j Z"}
	if d := cmp.Diff(want, ruleLines(dump)); d != "" {
		t.Errorf("ruleLines order (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"-P FORWARD DROP", "-A FORWARD -j X"}, ruleLines("-P FORWARD DROP\n-A FORWARD -j X\n")); d != "" {
		t.Errorf("ruleLines -S (-want +got):\n%s", d)
	}
	nft := "table inet firewalld {\n\tchain filter_FORWARD {\n\t\tct status dnat accept # handle 12\n\t\tcounter packets 5 bytes 300 reject with icmpx admin-prohibited\n\t}\n}\n"
	want = []string{"table inet firewalld {", "chain filter_FORWARD {", "ct status dnat accept", "counter reject with icmpx admin-prohibited", "}", "}"}
	if d := cmp.Diff(want, ruleLines(nft)); d != "" {
		t.Errorf("ruleLines nft (-want +got):\n%s", d)
	}
}

func TestDiffRules(t *testing.T) {
	// Counters and generated names alone are no difference.
	a := natDump(false)
	b := strings.ReplaceAll(strings.ReplaceAll(a, "[3:180]", "[999:1]"), "3338e0cedae5b7110369d", "ffffeeeeddddcccc")
	if d := diffRules(a, b); !d.Same || len(d.Lines) != 0 {
		t.Errorf("counters differ only: %+v", d)
	}
	d := diffRules(natDump(false), natDump(true))
	if d.Same || d.Added != 3 || d.Removed != 0 {
		t.Fatalf("diff = %+v", d)
	}
	var text []string
	for _, l := range d.Lines {
		text = append(text, l.Class+"|"+l.Text)
	}
	joined := strings.Join(text, "\n")
	for _, want := range []string{
		"add|+ -A CNI-DN-<id> -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.1.84.4:80",
		"add|+ -A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 80 -j CNI-DN-<id>",
		"same|  -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("diff lacks %q:\n%s", want, joined)
		}
	}
	// A changed rule is shown as both versions; long equal runs are cut.
	var long []string
	for i := 0; i < 20; i++ {
		long = append(long, "-A X -p tcp --dport "+strings.Repeat("1", i+1)+" -j ACCEPT")
	}
	x := "*filter\n" + strings.Join(long, "\n") + "\nCOMMIT\n"
	y := strings.Replace(x, "-j ACCEPT\n-A X -p tcp --dport 1111111111 ", "-j ACCEPT\n-A X -p udp --dport 1111111111 ", 1)
	d = diffRules(x, y)
	if d.Added != 1 || d.Removed != 1 || len(d.Lines) > 2*diffContext+4 {
		t.Errorf("changed rule diff = %+v", d)
	}
	if d.Lines[0].Class != "skip" || !strings.Contains(d.Lines[0].Text, "identical lines") {
		t.Errorf("leading context not cut: %+v", d.Lines[0])
	}
}

func TestIsRuleDump(t *testing.T) {
	for _, tc := range []struct {
		e    results.Evidence
		want bool
	}{
		{results.Evidence{Kind: "rules", Text: "anything"}, true},
		{results.Evidence{Kind: "", Text: natDump(false)}, true}, // stored before kinds existed
		{results.Evidence{Kind: "", Text: "table inet x {\n}"}, true},
		{results.Evidence{Kind: "log", Text: natDump(false)}, false},
		{results.Evidence{Kind: "", Text: "GET http://x/ timeout"}, false},
		{results.Evidence{Kind: "", Text: "-P FORWARD DROP\n-A FORWARD -j ACCEPT\n"}, true}, // iptables -S
		{results.Evidence{Kind: "", Text: "-P FORWARD DROP\nwarning: x\n"}, false},
		{results.Evidence{Kind: "", Text: "\n"}, false},
	} {
		if got := isRuleDump(tc.e); got != tc.want {
			t.Errorf("isRuleDump(%+v) = %v", tc.e, got)
		}
	}
}

func TestBaseline(t *testing.T) {
	mk := func(line int, name, profile, provider, verdict string) *results.Cell {
		return &results.Cell{ID: results.CellID("s", line, profile, provider), Scenario: "s", Name: name + " on " + profile,
			Line: line, Profile: profile, Provider: provider, Verdict: verdict}
	}
	bad := mk(2, "outline", "p2", "netns", results.VerdictRegression)
	other := mk(9, "other outline", "p0", "netns", results.VerdictClean)
	lxd := mk(1, "outline", "p0", "lxd", results.VerdictClean)
	p3 := mk(3, "outline", "p3", "netns", results.VerdictClean)
	p1 := mk(1, "outline", "p1", "netns", results.VerdictClean)
	r := newRunData(&results.Run{ID: "r"}, []*results.Cell{bad, other, lxd, p3, p1})
	if got := baseline(r, bad); got != p1 {
		t.Errorf("baseline = %v, want p1 (same outline and provider, first profile)", got.ID)
	}
	if got := baseline(r, p1); got != nil {
		t.Error("a clean cell has a baseline")
	}
	r = newRunData(&results.Run{ID: "r"}, []*results.Cell{bad, other})
	if got := baseline(r, bad); got != other {
		t.Error("no fallback to another outline of the scenario")
	}
	r = newRunData(&results.Run{ID: "r"}, []*results.Cell{bad})
	if baseline(r, bad) != nil {
		t.Error("baseline without clean cells")
	}
	// Evidence views: rule dumps get a diff, a dump missing from the
	// baseline says so, other evidence has none.
	bad.Evidence = []results.Evidence{{Name: "nat", Kind: "rules", Text: natDump(true)}, {Name: "filter", Kind: "rules", Text: "*filter\nCOMMIT"}, {Name: "log", Text: "x"}}
	p1.Evidence = []results.Evidence{{Name: "nat", Kind: "rules", Text: natDump(false)}}
	ev := evidenceViews(bad, p1)
	if len(ev) != 3 || ev[0].Diff == nil || ev[0].Diff.Added != 3 || ev[1].Diff == nil || !ev[1].Diff.Missing || ev[2].Diff != nil || ev[2].Kind != "output" {
		t.Errorf("evidence views = %+v", ev)
	}
	if ev := evidenceViews(bad, nil); ev[0].Diff != nil || !ev[0].Rules {
		t.Errorf("no baseline: %+v", ev[0])
	}
}
