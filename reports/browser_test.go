package reports

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	bin := chromium()
	if bin == "" {
		t.Skip("chromium is not installed (apt-get install chromium; `make deps` does it)")
	}
	dir, key := publishNights(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()

	start := time.Now()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
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

// evalJS evaluates a JavaScript expression in the current page.
func evalJS[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}
