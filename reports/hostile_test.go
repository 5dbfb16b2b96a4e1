package reports

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lab/harness/results"
)

// TestBadgeControlCharacters is the regression test of row 21 of issue
// 13: control characters in a scenario name keep the badge valid XML.
func TestBadgeControlCharacters(t *testing.T) {
	svg := badgeSVG("dnat\x1b[31m\x00\x07\ufffe\tx", []*group{{Verdict: results.VerdictClean}})
	var doc struct {
		Texts []string `xml:"g>text"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("not XML: %v\n%q", err, svg)
	}
	if len(doc.Texts) != 2 || doc.Texts[0] != "dnat[31m x" {
		t.Errorf("texts = %q", doc.Texts)
	}
}

// TestCorruptFilesAreSkipped is the regression test of row 9 of issue 13:
// a truncated, empty, garbage, foreign or FIFO cell file and a corrupt
// run.json are reported one line each and skipped; the site is built.
func TestCorruptFilesAreSkipped(t *testing.T) {
	out := t.TempDir()
	storeNights(t, out)
	cells := filepath.Join(out, "runs", run2, "cells")
	good, _ := filepath.Glob(filepath.Join(cells, "*.json"))
	data, _ := os.ReadFile(good[0])
	os.WriteFile(filepath.Join(cells, "truncated.json"), data[:len(data)/2], 0o644)
	os.WriteFile(filepath.Join(cells, "empty.json"), nil, 0o644)
	os.WriteFile(filepath.Join(cells, "garbage.json"), []byte("\x1b[2J\xff\xfe garbage\n\n\n"), 0o644)
	os.WriteFile(filepath.Join(cells, "foreign.json"), data, 0o644) // a copy under another name
	os.WriteFile(filepath.Join(cells, "array.json"), []byte("[1,2]"), 0o644)
	syscall.Mkfifo(filepath.Join(cells, "fifo.json"), 0o644)
	os.WriteFile(filepath.Join(out, "runs", run1, "run.json"), []byte("{\"id\": tru"), 0o644)
	done := make(chan struct{})
	var res Published
	var err error
	go func() {
		res, err = Site{Out: out, Now: time.Now}.Publish()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Publish blocked")
	}
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(res.Skipped) != 7 {
		t.Errorf("skipped %d files, want 7:\n%s", len(res.Skipped), strings.Join(res.Skipped, "\n"))
	}
	for _, s := range res.Skipped {
		if strings.ContainsAny(s, "\n\x1b") {
			t.Errorf("skip line not one clean line: %q", s)
		}
	}
	if res.Front != run2 || res.Cells != len(good) {
		t.Errorf("Publish = %+v, want front %s with %d cells", res, run2, len(good))
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Error(err)
	}
}
