package timing

import (
	"strings"
	"testing"
	"time"
)

func TestTotalsGroupAndSort(t *testing.T) {
	now := time.Now()
	spans := []Span{
		{Kind: Exec, Name: "iptables", Start: now, Dur: 10 * time.Millisecond},
		{Kind: Call, Name: "http", Start: now, Dur: 900 * time.Millisecond},
		{Kind: Exec, Name: "iptables", Start: now, Dur: 30 * time.Millisecond},
	}
	got := Totals(spans)
	if len(got) != 2 || got[0].Name != "http" || got[1].N != 2 || got[1].Sum != 40*time.Millisecond || got[1].Max != 30*time.Millisecond {
		t.Fatalf("Totals = %+v", got)
	}
}

func TestReportNamesPhasesAndSlowest(t *testing.T) {
	r := New()
	start := time.Now()
	r.Add(Exec, "nft", "node1", start)
	r.Add(Phase, "steps", "", start)
	out := r.Report(5)
	for _, want := range []string{"phases (wall):", "steps", "exec  nft", "on node1"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var nilRec *Recorder
	nilRec.Add(Exec, "x", "", start)
	if nilRec.Report(3) != "" || nilRec.Spans() != nil {
		t.Error("a nil recorder records nothing")
	}
}
