package reports

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/results"
)

// provCell makes one stored cell of the multi-provider fixture: scenario
// scn, outline name, Examples line, profile, provider; rep says whether the
// failure was observed, expected what the row expects.
func provCell(scn, name string, line int, profile, provider string, rep bool, expected string) *results.Cell {
	c := &results.Cell{SchemaVersion: results.SchemaVersion, ID: results.CellID(scn, line, profile, provider),
		RunID: "r1", Scenario: scn, Feature: "Feature " + scn, Name: name + " on " + profile, Line: line,
		FeatureFile: "features/" + scn + ".feature", Profile: profile, Provider: provider, Status: results.Passed,
		Reproduced: &rep, Expected: expected, Environment: map[string]string{"kernel": "6.1.0-" + provider},
		Pinned: map[string]string{"distro": "debian-" + profile}, Observations: map[string]any{"public_http_80": "200"}}
	if rep {
		c.Observations["public_http_80"] = "timeout"
	}
	if provider == "netns" {
		c.Observations["netns_only"] = 1.5
	}
	c.Ran = map[string]map[string]string{"node1": {"nft": "1.0.6", "kernel": "6.1.0"}}
	if provider == "lxd" {
		c.Ran["node1"]["nft"] = "0.9.8"
	}
	c.Verdict = results.Verdict(c)
	return c
}

// multiProviderCells is the fixture: two features with disjoint profiles,
// three providers. dnat line 34 (microk8s-1.32.2) reproduces on netns and
// lxd but not on docker (an outcome disagreement); hetzner line 20 was
// skipped on lxd (a lab disagreement); every other cell agrees. dnat has
// two outlines, the second only for microk8s-1.31.6, and docker did not run
// dnat line 40 at all.
func multiProviderCells() []*results.Cell {
	var cells []*results.Cell
	for _, pv := range []string{"docker", "lxd", "netns"} {
		cells = append(cells,
			provCell("dnat-stop-start", "stop and start", 33, "microk8s-1.31.6", pv, false, "absent"),
			provCell("dnat-stop-start", "stop and start", 34, "microk8s-1.32.2", pv, pv != "docker", "present"),
			provCell("hetzner-port-range", "random ports", 20, "hetzner-default", pv, true, "present"),
			provCell("hetzner-port-range", "random ports", 21, "hetzner-natportrange", pv, false, "absent"),
		)
		if pv != "docker" {
			cells = append(cells, provCell("dnat-stop-start", "hostPort only", 40, "microk8s-1.31.6", pv, false, "absent"))
		}
	}
	for _, c := range cells {
		if c.Scenario == "hetzner-port-range" && c.Line == 20 && c.Provider == "lxd" {
			c.Status, c.Reproduced, c.Error = results.Skipped, nil, "needs a VM provider"
			c.Verdict = results.Verdict(c)
		}
	}
	return cells
}

func TestDisagreements(t *testing.T) {
	ds := Disagreements(multiProviderCells())
	if len(ds) != 2 {
		t.Fatalf("disagreements = %v, want 2", ds)
	}
	out, lab := ds[0], ds[1]
	if out.Kind != DisagreeOutcome || out.Scenario != "dnat-stop-start" || out.Line != 34 || out.Profile != "microk8s-1.32.2" ||
		out.Name != "stop and start" || out.String() != "dnat-stop-start:34 microk8s-1.32.2: docker=unexpectedly-fixed lxd=reproduced netns=reproduced" {
		t.Errorf("outcome disagreement = %+v (%s)", out, out)
	}
	if out.Keys["docker"] != results.CellID("dnat-stop-start", 34, "microk8s-1.32.2", "docker") {
		t.Errorf("keys = %v", out.Keys)
	}
	if lab.Kind != DisagreeLab || lab.Scenario != "hetzner-port-range" || lab.Line != 20 || lab.Verdicts["lxd"] != results.VerdictSkipped {
		t.Errorf("lab disagreement = %+v", lab)
	}
	// One provider: nothing to disagree with.
	var netns []*results.Cell
	for _, c := range multiProviderCells() {
		if c.Provider == "netns" {
			netns = append(netns, c)
		}
	}
	if ds := Disagreements(netns); ds == nil || len(ds) != 0 {
		t.Errorf("one provider: %v, want []", ds)
	}
	// Attempts: the worst attempt is the provider's verdict.
	cells := multiProviderCells()
	again := provCell("dnat-stop-start", "stop and start", 33, "microk8s-1.31.6", "lxd", true, "absent")
	again.ID, again.Attempt = results.AttemptID(again.Key(), 2), 2
	ds = Disagreements(append(cells, again))
	if len(ds) != 3 || ds[0].Line != 33 || ds[0].Verdicts["lxd"] != results.VerdictRegression || ds[1].Line != 34 {
		t.Errorf("with a regressing second attempt: %v", ds)
	}
}

func TestMultiProviderMatrix(t *testing.T) {
	r := newRunData(&results.Run{ID: "r1"}, multiProviderCells())
	m := buildMatrix([]*runData{r}, 0, "", 14)
	if strings.Join(m.Providers, ",") != "docker,lxd,netns" || len(m.Features) != 2 {
		t.Fatalf("providers %v, %d features", m.Providers, len(m.Features))
	}
	dnat, hz := m.Features[0], m.Features[1]
	cols := func(f featureGroup) string {
		var s []string
		for _, c := range f.Columns {
			s = append(s, c.Profile)
		}
		return strings.Join(s, ",")
	}
	// Per feature only its own profiles: no column of one feature in the other.
	if cols(dnat) != "microk8s-1.31.6,microk8s-1.32.2" || cols(hz) != "hetzner-default,hetzner-natportrange" {
		t.Errorf("columns: dnat %s, hetzner %s", cols(dnat), cols(hz))
	}
	if len(dnat.Rows) != 2 || dnat.Rows[0].Name != "stop and start" || dnat.Rows[1].Name != "hostPort only" || dnat.Span != 3 {
		t.Fatalf("dnat rows = %+v", dnat.Rows)
	}
	if !dnat.Rows[1].Cells[1].Empty || dnat.Rows[1].Cells[0].Empty {
		t.Errorf("hostPort only row: want microk8s-1.31.6 filled, microk8s-1.32.2 empty")
	}
	// Providers side by side, in provider order; a provider that did not
	// run a coordinate is shown as such.
	c := dnat.Rows[0].Cells[1]
	var got []string
	for _, v := range c.Verdicts {
		got = append(got, v.Provider+"="+v.Label)
	}
	if strings.Join(got, " ") != "docker=unexpectedly-fixed lxd=reproduced netns=reproduced" || c.Disagree != DisagreeOutcome {
		t.Errorf("dnat line 34 cell = %v disagree=%v", got, c.Disagree)
	}
	if dnat.Rows[0].Cells[0].Disagree != "" {
		t.Error("an agreeing cell is marked as a disagreement")
	}
	missing := dnat.Rows[1].Cells[0].Verdicts[0]
	if !missing.Missing || missing.Provider != "docker" || missing.Href != "" {
		t.Errorf("docker on hostPort only = %+v, want missing", missing)
	}
	if v := dnat.Rows[0].Cells[1].Verdicts[2]; v.Href != "runs/r1/cells/"+results.CellID("dnat-stop-start", 34, "microk8s-1.32.2", "netns")+".html" || len(v.History.Boxes) != 1 {
		t.Errorf("netns verdict link %q, %d history boxes", v.Href, len(v.History.Boxes))
	}
	if len(m.Disagreements) != 2 || m.Disagreements[0].Kind != DisagreeOutcome || m.Disagreements[0].Name != "stop and start" ||
		len(m.Disagreements[0].Verdicts) != 3 || m.Disagreements[1].Kind != DisagreeLab {
		t.Errorf("page disagreements = %+v", m.Disagreements)
	}
	// Column pins are the profile's pins, never the facts measured in the
	// nodes (the kernel differs per provider and is on the cell pages).
	if p := dnat.Columns[0].Pins; len(p) != 1 || p[0].Full != "debian-microk8s-1.31.6" {
		t.Errorf("pins = %+v", p)
	}
}

func TestPublishMultiProvider(t *testing.T) {
	out := t.TempDir()
	st := results.Store{Dir: filepath.Join(out, "runs", "r1")}
	for _, c := range multiProviderCells() {
		if err := st.Put(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := (Site{Out: out, Now: time.Now}).Publish(); err != nil {
		t.Fatal(err)
	}
	index := string(mustRead(t, filepath.Join(out, "index.html")))
	for _, want := range []string{`<section id="disagreements">`, `<strong>2</strong> cell(s) differ, <strong>1</strong> in the outcome`,
		`<li class="d-outcome">`, `<li class="d-lab">`, `<section class="feature" id="f-dnat-stop-start">`,
		`<td class="cell multi disagree d-outcome">`, `data-provider="docker"><span class="prov">docker</span><span class="verdict">not run</span>`,
		`<th scope="row" class="rowname">hostPort only</th>`} {
		if !strings.Contains(index, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	if n := strings.Count(index, `<td class="empty">`); n != 2 {
		t.Errorf("%d empty cells, want 2 (hostPort only on microk8s-1.32.2, and the legend's)", n)
	}
	if n := strings.Count(index, `<th class="col">`); n != 4 {
		t.Errorf("%d column headers, want 4 (2 per feature)", n)
	}

	page := string(mustRead(t, filepath.Join(out, "runs", "r1", "cells", results.CellID("dnat-stop-start", 34, "microk8s-1.32.2", "docker")+".html")))
	for _, want := range []string{`<section id="providers">`, "The providers disagree about the outcome.",
		`<tr class="differ"><td><code>public_http_80</code></td><td><code>200</code></td><td><code>timeout</code></td><td><code>timeout</code></td></tr>`} {
		if !strings.Contains(page, want) {
			t.Errorf("docker cell page lacks %q", want)
		}
	}

	if nights := string(mustRead(t, filepath.Join(out, "nights.html"))); !strings.Contains(nights, "<td>docker lxd netns</td>") {
		t.Error("nights.html does not list the run's providers")
	}

	var idx RunIndex
	if err := json.Unmarshal(mustRead(t, filepath.Join(out, "runs", "r1", "index.json")), &idx); err != nil {
		t.Fatal(err)
	}
	if strings.Join(idx.Providers, ",") != "docker,lxd,netns" || len(idx.Disagreements) != 2 ||
		idx.Disagreements[0].Verdicts["docker"] != results.VerdictFixed {
		t.Errorf("index.json providers %v, disagreements %+v", idx.Providers, idx.Disagreements)
	}

	var ju junitSuites
	if err := xml.Unmarshal(mustRead(t, filepath.Join(out, "runs", "r1", "junit.xml")), &ju); err != nil {
		t.Fatal(err)
	}
	last := ju.Suites[len(ju.Suites)-1]
	if last.Name != "provider agreement" || last.Tests != 5 || last.Failures != 1 || last.Skipped != 1 {
		t.Fatalf("agreement suite = %+v", last)
	}
	var failed junitCase
	for _, c := range last.Cases {
		if c.Failure != nil {
			failed = c
		}
	}
	if failed.ClassName != "agreement.dnat-stop-start" || failed.Name != "stop and start [microk8s-1.32.2: docker, lxd, netns]" ||
		!strings.Contains(failed.Failure.Message, "docker=unexpectedly-fixed lxd=reproduced netns=reproduced") {
		t.Errorf("failing agreement case = %+v", failed)
	}
	if c := ju.Suites[0].Cases[0]; c.ClassName != "dnat-stop-start.docker" {
		t.Errorf("first case classname %q, want dnat-stop-start.docker", c.ClassName)
	}
}

// TestRowSplit: an outline with two Examples rows for the same profile
// gets one row per line; a second provider at the same coordinate does not
// split it.
func TestRowSplit(t *testing.T) {
	cells := []*results.Cell{
		provCell("s", "outline A", 10, "p1", "netns", false, "absent"), provCell("s", "outline A", 11, "p2", "netns", false, "absent"),
		provCell("s", "outline A", 10, "p1", "lxd", false, "absent"),
		provCell("s", "outline B", 20, "p1", "netns", false, "absent"), provCell("s", "outline B", 21, "p1", "netns", false, "absent"),
	}
	m := buildMatrix([]*runData{newRunData(&results.Run{ID: "r1"}, cells)}, 0, "", 14)
	var names []string
	for _, r := range m.Features[0].Rows {
		names = append(names, r.Name)
	}
	if strings.Join(names, "|") != "outline A|outline B (line 20)|outline B (line 21)" {
		t.Errorf("rows = %q", names)
	}
}

func TestCompareProviders(t *testing.T) {
	r := newRunData(&results.Run{ID: "r1"}, multiProviderCells())
	netns := r.byKey[results.CellID("dnat-stop-start", 34, "microk8s-1.32.2", "netns")].First()
	pc := compareProviders(r, netns, "../../../")
	if pc == nil || pc.Disagree != DisagreeOutcome || len(pc.Providers) != 3 {
		t.Fatalf("compare = %+v", pc)
	}
	var provs []string
	for _, p := range pc.Providers {
		provs = append(provs, p.Provider+"="+p.Label)
	}
	if strings.Join(provs, " ") != "netns=reproduced docker=unexpectedly-fixed lxd=reproduced" {
		t.Errorf("providers = %v, want this cell first", provs)
	}
	want := []compareRow{
		{Name: "netns_only", Values: []string{"1.5", "", ""}, Differ: true},
		{Name: "public_http_80", Values: []string{"timeout", "200", "timeout"}, Differ: true},
	}
	if fmt.Sprint(pc.Rows) != fmt.Sprint(want) {
		t.Errorf("rows = %+v, want %+v", pc.Rows, want)
	}
	wantRan := []compareRow{
		{Name: "node1: kernel", Values: []string{"6.1.0", "6.1.0", "6.1.0"}},
		{Name: "node1: nft", Values: []string{"1.0.6", "1.0.6", "0.9.8"}, Differ: true},
	}
	if fmt.Sprint(pc.Ran) != fmt.Sprint(wantRan) {
		t.Errorf("ran = %+v, want %+v", pc.Ran, wantRan)
	}
	if pc.Providers[1].Href != "../../../runs/r1/cells/"+results.CellID("dnat-stop-start", 34, "microk8s-1.32.2", "docker")+".html" {
		t.Errorf("docker link %q", pc.Providers[1].Href)
	}
	// Agreeing providers with equal observations: nothing differs.
	lxd := r.byKey[results.CellID("dnat-stop-start", 33, "microk8s-1.31.6", "lxd")].First()
	pc = compareProviders(r, lxd, "")
	if pc == nil || pc.Disagree != "" || pc.Rows[1].Differ || !pc.Rows[0].Differ {
		t.Errorf("agreeing compare = %+v", pc)
	}
	// One provider: no comparison.
	one := newRunData(&results.Run{ID: "r2"}, []*results.Cell{netns})
	if pc := compareProviders(one, netns, ""); pc != nil {
		t.Errorf("one provider: %+v", pc)
	}
}
