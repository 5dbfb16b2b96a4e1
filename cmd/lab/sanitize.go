package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// terminalSafe makes text from outside lab (command output, file
// contents, errors quoting them) harmless on a terminal: escape
// sequences and other control characters are shown as \xNN, invalid UTF-8
// as \xNN too. Newlines and tabs are kept when keepLines is set.
func terminalSafe(s string, keepLines bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// oneLine renders an error message as one terminal-safe line of at most
// 400 characters: bad input is reported in one line, whatever it holds.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
	s = terminalSafe(s, false)
	if r := []rune(s); len(r) > 400 {
		s = string(r[:400]) + "…"
	}
	return s
}

// safeWriter passes text through terminalSafe (keeping lines): the -v step
// trace carries command output.
type safeWriter struct{ w io.Writer }

// Write writes p made terminal-safe; it reports len(p) written.
func (s safeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, terminalSafe(string(p), true)); err != nil {
		return 0, err
	}
	return len(p), nil
}
