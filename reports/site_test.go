package reports

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestPublishLayout(t *testing.T) {
	dir, key := publishNights(t)
	for _, p := range []string{
		"index.html", "nights.html", "badges/dnat-stop-start.svg", "badges/hetzner-port-range.svg",
		"runs/" + run1 + "/index.html", "runs/" + run2 + "/index.html",
		"runs/" + run2 + "/index.json", "runs/" + run2 + "/junit.xml", "runs/" + run2 + "/results.json",
		"runs/" + run2 + "/cells/" + key + ".html", "runs/" + run1 + "/cells/" + key + ".html",
		"runs/" + run2 + "/cells/hetzner-port-range.L20.hetzner-default.netns.r3.html",
	} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	// The store is untouched: one JSON per cell, nothing else in cells/.
	files, _ := filepath.Glob(filepath.Join(dir, "runs", run2, "cells", "*.json"))
	if len(files) != 6 {
		t.Errorf("run 2 has %d cell documents, want 6", len(files))
	}
	all := readAll(t, dir)
	for p, s := range all {
		if !strings.HasSuffix(p, ".html") {
			continue
		}
		if strings.Contains(s, "<script") || strings.Contains(s, planted) {
			t.Errorf("%s contains a script element", p)
		}
		// Self-contained: the only absolute URLs are upstream issues.
		for _, u := range regexp.MustCompile(`(?:href|src)="([a-z]+:[^"]*)"`).FindAllStringSubmatch(s, -1) {
			if !regexp.MustCompile(`^https://github\.com/(canonical/microk8s|k3s-io/k3s)/issues/\d+$`).MatchString(u[1]) {
				t.Errorf("%s links outside the site: %s", p, u[1])
			}
		}
		// Every relative link resolves to a written file.
		for _, u := range regexp.MustCompile(`(?:href|src)="([^":]+)"`).FindAllStringSubmatch(s, -1) {
			target := filepath.Join(filepath.Dir(p), strings.SplitN(u[1], "#", 2)[0])
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: dangling link %s", p, u[1])
			}
		}
	}
}

func TestPublishFrontPage(t *testing.T) {
	dir, key := publishNights(t)
	index := string(mustRead(t, filepath.Join(dir, "index.html")))
	count := func(s, sub string) int { return strings.Count(s, sub) }
	for class, want := range map[string]int{"v-clean": 1, "v-reproduced": 2, "v-regression": 1} {
		if got := count(index, `<td class="cell `+class+`"`); got != want {
			t.Errorf("%d matrix cells of class %s, want %d", got, class, want)
		}
	}
	for _, want := range []string{
		run2,
		// upstream issues from the feature tags; unknown tags as text
		`<a class="tag issue" href="https://github.com/canonical/microk8s/issues/4944">@microk8s-4944</a>`,
		`<a class="tag issue" href="https://github.com/k3s-io/k3s/issues/5349">@k3s-5349</a>`,
		`<span class="tag">@dnat</span>`,
		// pinned versions in the column header
		`<span class="k">microk8s</span> 1.32.2 rev 7731`,
		// --repeat: worst verdict and the share reproduced
		"reproduced · 2/3 reproduced",
		// changed since the previous run
		`<li data-key="` + key + `">`, `clean</a> → <span class="v v-regression">regression</span>`,
		// badges, history strips, the shared environment
		`src="badges/dnat-stop-start.svg"`, `class="hist"`, "6.1.0-test",
		`href="runs/` + run2 + `/index.json"`, `href="nights.html"`,
	} {
		if !strings.Contains(index, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	// Each cell's strip has both nights, the current one outlined.
	if got := count(index, `<a class="box `); got != 4*2 {
		t.Errorf("%d history boxes, want 8", got)
	}
	if got := count(index, `cur" href`); got != 4 {
		t.Errorf("%d current boxes, want 4", got)
	}
	// The run's own page is the same matrix, relative to its directory.
	own := string(mustRead(t, filepath.Join(dir, "runs", run2, "index.html")))
	if !strings.Contains(own, `href="cells/`+key+`.html"`) && !strings.Contains(own, `href="../../runs/`+run2+`/cells/`+key+`.html"`) {
		t.Error("run page does not link its cells")
	}
	if strings.Contains(own, "badges/") {
		t.Error("a run page shows the front page's badges")
	}
	// The first night has nothing to compare with.
	first := string(mustRead(t, filepath.Join(dir, "runs", run1, "index.html")))
	if !strings.Contains(first, "first stored run") || count(first, `<a class="box `) != 4 {
		t.Error("night 1 page: want no changes and one box per cell")
	}
}

func TestPublishCellPage(t *testing.T) {
	dir, key := publishNights(t)
	page := string(mustRead(t, filepath.Join(dir, "runs", run2, "cells", key+".html")))
	for _, want := range []string{
		`<table class="steps">`, `no stale jumps &lt;script&gt;document.title=&#34;pwned&#34;`, "want 2, got 4 &lt;script&gt;",
		`kube-proxy log &lt;script&gt;`, "E0101 &lt;script&gt;",
		`id="verdict">regression<`, "microk8s-1.31.6 / netns", // baseline
		`<span class="add">&#43; -A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 80 -j CNI-DN-&lt;id&gt;</span>`,
		`href="https://github.com/canonical/microk8s/issues/4944"`,
		"dnat_jumps_after", "6.1.0-test",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("cell page lacks %q", want)
		}
	}
	if n := strings.Count(page, `<a class="box `); n != 2 {
		t.Errorf("cell history has %d boxes, want 2", n)
	}
	rep := string(mustRead(t, filepath.Join(dir, "runs", run2, "cells", "hetzner-port-range.L20.hetzner-default.netns.r2.html")))
	if !strings.Contains(rep, "Attempts (cell: reproduced · 2/3 reproduced)") || strings.Count(rep, `href="../../../runs/`+run2+`/cells/hetzner-port-range.L20`) < 3 {
		t.Error("attempt page does not list the 3 attempts")
	}
}

func TestPublishNightsBadgesIndex(t *testing.T) {
	dir, key := publishNights(t)
	nights := string(mustRead(t, filepath.Join(dir, "nights.html")))
	i2, i1 := strings.Index(nights, run2), strings.Index(nights, run1)
	if i1 < 0 || i2 < 0 || i2 > i1 {
		t.Error("nights.html does not list both runs newest first")
	}
	if !strings.Contains(nights, "2026-03-01 02:00:00Z") || !strings.Contains(nights, `<td class="num v-regression">1</td>`) || !strings.Contains(nights, "3m0s") {
		t.Error("nights.html lacks dates, totals per verdict or durations")
	}

	for name, want := range map[string]string{"dnat-stop-start": "1 regression", "hetzner-port-range": "1 ok"} {
		svg := mustRead(t, filepath.Join(dir, "badges", name+".svg"))
		if err := xml.Unmarshal(svg, new(struct{ XMLName xml.Name })); err != nil {
			t.Errorf("%s badge is not XML: %v", name, err)
		}
		if !strings.Contains(string(svg), ">"+want+"<") {
			t.Errorf("%s badge lacks %q:\n%s", name, want, svg)
		}
	}

	var idx RunIndex
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "runs", run2, "index.json")), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Run == nil || idx.ID != run2 || idx.Seed != 7 || len(idx.Planned) != 6 || len(idx.Cells) != 6 {
		t.Fatalf("index = %+v", idx)
	}
	if idx.Totals["regression"] != 1 || idx.Totals["reproduced"] != 2 || idx.Totals["clean"] != 1 {
		t.Errorf("totals = %v", idx.Totals)
	}
	var found bool
	for _, c := range idx.Cells {
		if c.Key == key {
			found = true
			if c.ID != key || c.Verdict != "regression" || c.Status != "failed" || c.Attempt != 1 || c.Link != "cells/"+key+".html" ||
				c.Reproduced == nil || !*c.Reproduced || c.DurationMS != 1500 || c.Profile != "microk8s-1.32.3" || c.Provider != "netns" || c.Scenario != "dnat-stop-start" {
				t.Errorf("summary = %+v", c)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "runs", run2, c.Link)); err != nil {
			t.Errorf("index links %s: %v", c.Link, err)
		}
	}
	if !found {
		t.Error("index lacks the changed cell")
	}
}

func TestPublishOptions(t *testing.T) {
	out := t.TempDir()
	if _, err := (Site{Out: out}).Publish(); !errors.Is(err, ErrNoRuns) {
		t.Errorf("empty store: %v", err)
	}
	storeNights(t, out)
	site := filepath.Join(t.TempDir(), "site")
	res, err := Site{Out: out, Dir: site, Front: run1}.Publish()
	if err != nil || res.Front != run1 || res.Rendered != 2 {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err == nil {
		t.Error("--site elsewhere wrote into OUT")
	}
	index := string(mustRead(t, filepath.Join(site, "index.html")))
	if !strings.Contains(index, "Run <a href=\"runs/"+run1) || strings.Contains(index, "regression</span></li>") {
		t.Error("front page is not run 1")
	}
	if _, err := (Site{Out: out, Front: "nope"}).Publish(); err == nil {
		t.Error("unknown front run accepted")
	}
	// Incremental: only the front run and runs without pages are rendered.
	res, err = Site{Out: out, Dir: site, Incremental: true}.Publish()
	if err != nil || res.Rendered != 1 || res.Front != run2 {
		t.Errorf("incremental Publish = %+v, %v", res, err)
	}
	// A run stored before run.json existed still renders.
	os.Remove(filepath.Join(out, "runs", run1, "run.json"))
	if _, err := (Site{Out: out, Dir: site}).Publish(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mustRead(t, filepath.Join(site, "nights.html"))), "2026-03-01 02:00:00Z") {
		t.Error("run without run.json lost its date")
	}
}
