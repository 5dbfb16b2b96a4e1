package reports

import (
	"fmt"
	"html"
	"strings"

	"lab/harness/results"
)

// Badge colours (shields.io's palette).
const (
	badgeGreen  = "#4c1"
	badgeRed    = "#e05d44"
	badgeOrange = "#fe7d37"
	badgeGrey   = "#9f9f9f"
	badgeLabel  = "#555"
)

// badgeMessage summarises a scenario's cells (one group per key) for its
// badge: "N ok" (green) when every cell is reproduced or clean (skipped
// cells aside); otherwise the bad verdicts counted, worst first, e.g.
// "1 regression" or "1 failed, 2 infra-error" — red when any is a
// regression, unexpectedly-fixed or failed, orange for infra errors only.
// A scenario whose cells were all skipped is "skipped" (grey).
func badgeMessage(groups []*group) (msg, colour string) {
	n := map[string]int{}
	for _, g := range groups {
		n[g.Verdict]++
	}
	var bad []string
	red := false
	for _, v := range []string{results.VerdictRegression, results.VerdictFixed, results.VerdictFailed, results.VerdictInfra} {
		if n[v] > 0 {
			bad = append(bad, fmt.Sprintf("%d %s", n[v], v))
			red = red || v != results.VerdictInfra
		}
	}
	switch ok := n[results.VerdictReproduced] + n[results.VerdictClean]; {
	case len(bad) > 0 && red:
		return strings.Join(bad, ", "), badgeRed
	case len(bad) > 0:
		return strings.Join(bad, ", "), badgeOrange
	case ok > 0:
		return fmt.Sprintf("%d ok", ok), badgeGreen
	}
	return "skipped", badgeGrey
}

// textWidth estimates the width in pixels of s in 11px Verdana.
func textWidth(s string) int {
	w := 0
	for _, r := range s {
		switch {
		case strings.ContainsRune("il.,:;|!'", r):
			w += 3
		case strings.ContainsRune("mwMW", r):
			w += 10
		case r >= 'A' && r <= 'Z':
			w += 8
		default:
			w += 7
		}
	}
	return w
}

// xmlText escapes s for XML text and attributes, dropping the characters
// XML 1.0 cannot hold at all (control characters but tab and newline,
// U+FFFE, U+FFFF, lone surrogates), which would make the file invalid.
func xmlText(s string) string {
	return html.EscapeString(strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n':
			return ' '
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF, r == 0x7f:
			return -1
		}
		return r
	}, s))
}

// badgeSVG renders a flat status badge "SCENARIO | message" as SVG; both
// texts are XML-escaped and stripped of characters XML cannot hold.
func badgeSVG(scenario string, groups []*group) []byte {
	msg, colour := badgeMessage(groups)
	lw, mw := textWidth(scenario)+10, textWidth(msg)+10
	label, text := xmlText(scenario), xmlText(msg)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`, lw+mw, label, text)
	fmt.Fprintf(&b, `<title>%s: %s</title>`, label, text)
	fmt.Fprintf(&b, `<rect width="%d" height="20" rx="3" fill="%s"/>`, lw+mw, badgeLabel)
	fmt.Fprintf(&b, `<rect x="%d" width="%d" height="20" rx="3" fill="%s"/>`, lw, mw, colour)
	fmt.Fprintf(&b, `<rect x="%d" width="4" height="20" fill="%s"/>`, lw, colour)
	b.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">`)
	fmt.Fprintf(&b, `<text x="%d" y="14">%s</text>`, lw/2, label)
	fmt.Fprintf(&b, `<text x="%d" y="14">%s</text>`, lw+mw/2, text)
	b.WriteString("</g></svg>\n")
	return []byte(b.String())
}
