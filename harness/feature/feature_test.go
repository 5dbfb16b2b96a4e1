package feature

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	gherkin "github.com/cucumber/gherkin/go/v26"
	messages "github.com/cucumber/messages/go/v21"
)

func TestParseDnatFeature(t *testing.T) {
	ft, err := Parse("../../features/dnat-stop-start.feature")
	if err != nil {
		t.Fatal(err)
	}
	if ft.Scenario != "dnat-stop-start" || len(ft.Cells) < 3 {
		t.Fatalf("got scenario %q with %d cells", ft.Scenario, len(ft.Cells))
	}
	var profiles []string
	for _, c := range ft.Cells[:3] {
		profiles = append(profiles, c.Profile)
	}
	if strings.Join(profiles, ",") != "microk8s-1.31.6,microk8s-1.32.2,microk8s-1.32.3" {
		t.Errorf("profiles = %v", profiles)
	}
	c := ft.Cells[1]
	if c.Row["jumps_after"] != "4" || !strings.Contains(c.Name, "microk8s-1.32.2") {
		t.Errorf("row not substituted: %+v", c.Row)
	}
	found := false
	for _, s := range c.Steps {
		if s.Text == `observation "dnat_jumps_after" should be "4"` {
			found = true
			if s.Keyword != "And" || s.Line == 0 {
				t.Errorf("step position lost: %+v", s)
			}
		}
	}
	if !found {
		t.Error("outline placeholder <jumps_after> not substituted in steps")
	}
	if !contains(c.Tags, "@microk8s-4944") {
		t.Errorf("tags = %v", c.Tags)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestSourceRoundTrip checks the text godog executes has exactly the cell's
// steps, including doc strings and tables with awkward characters.
func TestSourceRoundTrip(t *testing.T) {
	c := Cell{Feature: "F", Name: "n", Steps: []Step{
		{Text: `a "quoted" step`},
		{Text: "with doc", DocString: "line1\n\"\"\" inner\nline3"},
		{Text: "with table", Table: [][]string{{"a|b", `c\d`}, {"e", "f"}}},
	}}
	doc, err := gherkin.ParseGherkinDocument(strings.NewReader(c.Source()), (&messages.Incrementing{}).NewId)
	if err != nil {
		t.Fatalf("%v\n%s", err, c.Source())
	}
	steps := doc.Feature.Children[0].Scenario.Steps
	if len(steps) != 3 || steps[0].Text != `a "quoted" step` {
		t.Fatalf("steps = %+v", steps)
	}
	if got := steps[1].DocString.Content; got != "line1\n\"\"\" inner\nline3" {
		t.Errorf("doc string = %q", got)
	}
	if got := steps[2].DataTable.Rows[0].Cells[0].Value; got != "a|b" {
		t.Errorf("table cell = %q", got)
	}
	if got := steps[2].DataTable.Rows[0].Cells[1].Value; got != `c\d` {
		t.Errorf("table cell = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct{ body, want string }{
		"syntax":    {"Feature: x\n  Scenario Outline: y\n    Given a\n    Examples:\n      | profile |\n      | p | extra |\n", "x.feature: (6:7): inconsistent cell count"},
		"plain":     {"Feature: x\n  Scenario: y\n    Given a\n", "plain.feature:2: scenario \"y\" is not a Scenario Outline"},
		"nocolumn":  {"Feature: x\n  Scenario Outline: y\n    Given a\n    Examples:\n      | env |\n      | p   |\n", "nocolumn.feature:5: the Examples of \"y\" have no \"profile\" column"},
		"empty":     {"Feature: x\n", "no scenarios"},
		"nofeature": {"# nothing\n", "no Feature: found"},
	}
	for name, tc := range cases {
		p := filepath.Join(dir, name+".feature")
		if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Parse(p)
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir+"/", ""), strings.ReplaceAll(tc.want, "x.feature", "syntax.feature")) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

func TestMatchTags(t *testing.T) {
	tags := []string{"@microk8s-4944", "@dnat"}
	for expr, want := range map[string]bool{
		"":                             true,
		"@dnat":                        true,
		"dnat":                         true,
		"@wsl":                         false,
		"@wsl,@dnat":                   true,
		"@dnat && ~@slow":              true,
		"@dnat && ~@microk8s-4944":     false,
		"~@dnat":                       false,
		"@wsl,@microk8s-4944 && @dnat": true,
	} {
		if got := MatchTags(expr, tags); got != want {
			t.Errorf("MatchTags(%q) = %v, want %v", expr, got, want)
		}
	}
}

// TestCells: every file of the glob, all its cells; no match is an error.
func TestCells(t *testing.T) {
	cells, err := Cells("../../features/dnat-stop-start.feature")
	if err != nil {
		t.Fatal(err)
	}
	ft, err := Parse("../../features/dnat-stop-start.feature")
	if err != nil || len(cells) != len(ft.Cells) || len(cells) == 0 {
		t.Fatalf("Cells = %d cells, Parse = %d, %v", len(cells), len(ft.Cells), err)
	}
	all, err := Cells("../../features/*.feature")
	if err != nil || len(all) <= len(cells) {
		t.Errorf("Cells of every feature = %d cells, %v; want more than one file's %d", len(all), err, len(cells))
	}
	if _, err := Cells("../../features/none-*.feature"); err == nil {
		t.Error("no file matching was not an error")
	}
}
