package reports

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"lab/harness/results"
)

// chromium finds a headless-capable Chromium; `make deps` installs
// Debian's chromium package.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowserSite opens the generated site in headless Chromium from disk
// (file://) and checks what a reader sees: the matrix with its verdict
// classes, the changed-since list, the history strips, a click through to
// a cell page with its steps, and that a <script> planted in step output
// is shown as text and never runs.
func TestBrowserSite(t *testing.T) {
	ctx, do := browser(t)
	dir, key := publishNights(t)

	start := time.Now()
	do("open the front page", chromedp.Navigate("file://"+filepath.Join(dir, "index.html")),
		chromedp.WaitVisible(chromedp.CSS(`table.matrix`)))
	cells := evalJS[int](ctx, t, `document.querySelectorAll("table.matrix td.cell").length`)
	classes := evalJS[map[string]int](ctx, t, `(() => { const n = {};
		for (const td of document.querySelectorAll("table.matrix td.cell"))
			for (const c of td.classList) if (c.startsWith("v-")) n[c] = (n[c] || 0) + 1;
		return n })()`)
	boxes := evalJS[[]string](ctx, t, `Array.from(document.querySelectorAll('td.cell[data-key="`+key+`"] .hist a.box')).map(b => b.className + "|" + b.title)`)
	changed := evalJS[[]string](ctx, t, `Array.from(document.querySelectorAll("#changed li")).map(li => li.dataset.key + "|" + li.textContent)`)

	// Open the regression cell from the matrix.
	do("click the regression cell", chromedp.Click(chromedp.CSS(`td.cell.v-regression a.verdict`)),
		chromedp.WaitVisible(chromedp.CSS(`table.steps`)))
	location := evalJS[string](ctx, t, `location.href`)
	title := evalJS[string](ctx, t, `document.title`)
	stepsRows := evalJS[int](ctx, t, `document.querySelectorAll("table.steps tbody tr").length`)
	historyBoxes := evalJS[int](ctx, t, `document.querySelectorAll("#history a.box").length`)
	pwned := evalJS[bool](ctx, t, `window.pwned !== undefined`)
	scripts := evalJS[int](ctx, t, `document.querySelectorAll("script").length`)
	stepText := evalJS[string](ctx, t, `document.querySelector("table.steps tbody tr.failed td").textContent`)
	evidence := evalJS[string](ctx, t, `Array.from(document.querySelectorAll("section.evidence pre")).map(p => p.textContent).join("\n")`)
	t.Logf("browser checks took %v", time.Since(start).Round(time.Millisecond))

	if cells != 4 {
		t.Errorf("matrix shows %d cells, want 4", cells)
	}
	if classes["v-clean"] != 1 || classes["v-reproduced"] != 2 || classes["v-regression"] != 1 || len(classes) != 3 {
		t.Errorf("verdict classes = %v, want 1 clean, 2 reproduced, 1 regression", classes)
	}
	if len(boxes) != 2 || !strings.Contains(boxes[0], "v-clean") || !strings.Contains(boxes[0], run1) ||
		!strings.Contains(boxes[1], "v-regression") || !strings.Contains(boxes[1], "cur") {
		t.Errorf("history strip of the changed cell = %q, want clean then regression (current)", boxes)
	}
	if len(changed) != 1 || !strings.HasPrefix(changed[0], key+"|") || !strings.Contains(changed[0], "microk8s-1.32.3") ||
		!strings.Contains(changed[0], "clean → regression") {
		t.Errorf("changed since the previous run = %q, want the dnat microk8s-1.32.3 cell", changed)
	}
	if !strings.HasSuffix(location, "/runs/"+run2+"/cells/"+key+".html") {
		t.Errorf("clicking the cell opened %s", location)
	}
	if stepsRows != 2 || historyBoxes != 2 {
		t.Errorf("cell page: %d step rows, %d history boxes; want 2 and 2", stepsRows, historyBoxes)
	}
	if pwned || strings.Contains(title, "pwned") || scripts != 0 {
		t.Errorf("planted script ran or was parsed: window.pwned set %v, title %q, %d script elements", pwned, title, scripts)
	}
	if !strings.Contains(stepText, planted) || !strings.Contains(evidence, "E0101 "+planted) {
		t.Errorf("planted script is not shown as text: step %q", stepText)
	}
}

// browser starts headless Chromium for the test (skipping it when none is
// installed) and returns its tab and a helper running actions in it.
func browser(t *testing.T) (context.Context, func(what string, actions ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	bin := chromium()
	if bin == "" {
		t.Skip("chromium is not installed (apt-get install chromium; `make deps` does it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // generous: other suites load the machine
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	return ctx, func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
}

// evalJS evaluates a JavaScript expression in the current page.
func evalJS[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// TestBrowserMultiProvider opens the matrix of a run on three providers
// (the multiProviderCells fixture) and checks what a reader sees: the
// disagreements section first with the outcome disagreement, one table per
// feature with only its own profiles as columns, the providers side by side
// in every cell (laid out left to right), the disagreeing cell outlined,
// and a click on a provider's verdict opening that provider's cell. The
// full page is saved as a PNG: in $LAB_SCREENSHOT_DIR when set (to look at
// it), else in the test's temporary directory.
func TestBrowserMultiProvider(t *testing.T) {
	ctx, do := browser(t)
	out := t.TempDir()
	st := results.Store{Dir: filepath.Join(out, "runs", "r1")}
	for _, c := range multiProviderCells() {
		if err := st.Put(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := (Site{Out: out, Now: func() time.Time { return night2 }}).Publish(); err != nil {
		t.Fatal(err)
	}
	do("open the front page", chromedp.Navigate("file://"+filepath.Join(out, "index.html")),
		chromedp.WaitVisible(chromedp.CSS(`#disagreements`)))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot: %v", err)
	}
	shots := os.Getenv("LAB_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(shots, "matrix-multi-provider.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	// The disagreements come before the first feature's table.
	order := evalJS[bool](ctx, t, `document.querySelector("#disagreements").compareDocumentPosition(document.querySelector("table.matrix")) === Node.DOCUMENT_POSITION_FOLLOWING`)
	items := evalJS[[]string](ctx, t, `Array.from(document.querySelectorAll("#disagreements li")).map(li => li.className + "|" + li.textContent.replace(/\s+/g, " ").trim())`)
	columns := evalJS[map[string][]string](ctx, t, `(() => { const o = {};
		for (const s of document.querySelectorAll("section.feature"))
			o[s.id] = Array.from(s.querySelectorAll("th.col .profile")).map(d => d.textContent);
		return o })()`)
	// Providers side by side: the three boxes of the disagreeing cell share
	// one line, left to right in provider order.
	boxes := evalJS[[]string](ctx, t, `Array.from(document.querySelectorAll("td.disagree.d-outcome .pv")).map(d => { const r = d.getBoundingClientRect();
		return d.dataset.provider + "|" + Math.round(r.top) + "|" + Math.round(r.left) + "|" + d.className })`)
	outline := evalJS[string](ctx, t, `getComputedStyle(document.querySelector("td.disagree.d-outcome")).outlineStyle`)
	disagreeing := evalJS[[]string](ctx, t, `Array.from(document.querySelectorAll("td.disagree")).map(td => td.className)`)

	do("click docker's verdict in the disagreeing cell", chromedp.Click(chromedp.CSS(`td.disagree.d-outcome .pv[data-provider="docker"] a.verdict`)),
		chromedp.WaitVisible(chromedp.CSS(`body.cell-page #verdict`)))
	location := evalJS[string](ctx, t, `location.href`)
	verdict := evalJS[string](ctx, t, `document.querySelector("#verdict").textContent`)

	if !order {
		t.Error("the disagreements section is not above the matrix")
	}
	if len(items) != 2 || !strings.HasPrefix(items[0], "d-outcome|outcome dnat-stop-start · stop and start · microk8s-1.32.2 (line 34): docker unexpectedly-fixed lxd reproduced netns reproduced") ||
		!strings.HasPrefix(items[1], "d-lab|lab hetzner-port-range") {
		t.Errorf("disagreements = %q", items)
	}
	if strings.Join(columns["f-dnat-stop-start"], ",") != "microk8s-1.31.6,microk8s-1.32.2" ||
		strings.Join(columns["f-hetzner-port-range"], ",") != "hetzner-default,hetzner-natportrange" || len(columns) != 2 {
		t.Errorf("columns per feature = %v", columns)
	}
	if len(boxes) != 3 {
		t.Fatalf("disagreeing cell boxes = %q", boxes)
	}
	var tops, lefts []string
	for _, b := range boxes {
		f := strings.Split(b, "|")
		tops, lefts = append(tops, f[1]), append(lefts, f[2])
	}
	if tops[0] != tops[1] || tops[1] != tops[2] || !(atoi(lefts[0]) < atoi(lefts[1]) && atoi(lefts[1]) < atoi(lefts[2])) ||
		!strings.HasPrefix(boxes[0], "docker|") || !strings.Contains(boxes[0], "v-unexpectedly-fixed") || !strings.Contains(boxes[2], "v-reproduced") {
		t.Errorf("providers are not side by side in order: %q", boxes)
	}
	if strings.Join(disagreeing, ",") != "cell multi disagree d-outcome,cell multi disagree d-lab" || outline != "solid" {
		t.Errorf("disagreeing cells %q, outline %q; want one outcome (solid outline), one lab", disagreeing, outline)
	}
	if !strings.HasSuffix(location, "/runs/r1/cells/"+results.CellID("dnat-stop-start", 34, "microk8s-1.32.2", "docker")+".html") {
		t.Errorf("clicking docker's verdict opened %s", location)
	}
	if verdict != results.VerdictFixed {
		t.Errorf("docker's cell page shows verdict %q", verdict)
	}
}

// atoi parses a number the browser printed; garbage is -1.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
