package scenarios

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestExamplesMatchTheirPatterns keeps every documented example runnable.
func TestExamplesMatchTheirPatterns(t *testing.T) {
	for _, d := range Vocabulary() {
		text := strings.TrimSpace(regexp.MustCompile(`^(Given|When|Then|And|But) `).ReplaceAllString(d.Example, ""))
		n := 0
		for _, o := range Vocabulary() {
			if regexp.MustCompile(o.Pattern).MatchString(text) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("example %q matches %d step patterns, want exactly 1", d.Example, n)
		}
		if d.Doc == "" || d.Subject == "" {
			t.Errorf("step %q lacks doc or subject", d.Pattern)
		}
	}
}

// TestReadmeDocumentsEveryStep fails when features/README.md's generated
// section is not what `lab steps --markdown` prints (run `make docs`).
func TestReadmeDocumentsEveryStep(t *testing.T) {
	data, err := os.ReadFile("../features/README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i, j := strings.Index(s, BeginMarker), strings.Index(s, EndMarker)
	if i < 0 || j < i {
		t.Fatal("features/README.md lacks the generated step section markers; run `make docs`")
	}
	if got := s[i : j+len(EndMarker)+1]; got != Markdown() {
		t.Error("features/README.md step section is stale; run `make docs`")
	}
}
