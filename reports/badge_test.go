package reports

import (
	"encoding/xml"
	"strings"
	"testing"

	"lab/harness/results"
)

func TestBadgeMessage(t *testing.T) {
	gs := func(vs ...string) []*group {
		var out []*group
		for _, v := range vs {
			out = append(out, &group{Verdict: v})
		}
		return out
	}
	for _, tc := range []struct {
		in          []*group
		msg, colour string
	}{
		{gs("reproduced", "clean", "clean"), "3 ok", badgeGreen},
		{gs("reproduced", "clean", "skipped"), "2 ok", badgeGreen},
		{gs("clean", "regression"), "1 regression", badgeRed},
		{gs("regression", "failed", "infra-error", "infra-error", "unexpectedly-fixed"), "1 regression, 1 unexpectedly-fixed, 1 failed, 2 infra-error", badgeRed},
		{gs("clean", "infra-error"), "1 infra-error", badgeOrange},
		{gs("skipped"), "skipped", badgeGrey},
		{nil, "skipped", badgeGrey},
	} {
		msg, colour := badgeMessage(tc.in)
		if msg != tc.msg || colour != tc.colour {
			t.Errorf("badgeMessage = %q %s, want %q %s", msg, colour, tc.msg, tc.colour)
		}
	}
}

func TestBadgeSVG(t *testing.T) {
	svg := badgeSVG(`dnat<&>"x`, []*group{{Verdict: results.VerdictRegression}})
	var doc struct {
		XMLName xml.Name
		Width   int      `xml:"width,attr"`
		Texts   []string `xml:"g>text"`
		Title   string   `xml:"title"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, svg)
	}
	if doc.XMLName.Local != "svg" || len(doc.Texts) != 2 || doc.Texts[0] != `dnat<&>"x` || doc.Texts[1] != "1 regression" || doc.Width < 100 {
		t.Errorf("badge = %+v", doc)
	}
	if !strings.Contains(string(svg), badgeRed) || strings.Contains(string(svg), "<&>") {
		t.Errorf("badge colour or escaping wrong:\n%s", svg)
	}
}
