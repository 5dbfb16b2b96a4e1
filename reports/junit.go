package reports

import (
	"encoding/xml"
	"fmt"
	"strings"

	"lab/harness/results"
)

// junitSuites is the <testsuites> root element.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr,omitempty"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

// junitSuite is one <testsuite>: the cells of one scenario.
type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

// junitCase is one <testcase>: one cell.
type junitCase struct {
	ClassName string         `xml:"classname,attr"`
	Name      string         `xml:"name,attr"`
	Time      string         `xml:"time,attr"`
	File      string         `xml:"file,attr,omitempty"`
	Line      int            `xml:"line,attr,omitempty"`
	Failure   *junitOutcome  `xml:"failure,omitempty"`
	Error     *junitOutcome  `xml:"error,omitempty"`
	Skipped   *junitSkipped  `xml:"skipped,omitempty"`
	SystemOut *junitCharData `xml:"system-out,omitempty"`
}

// junitOutcome is a <failure> or <error> element.
type junitOutcome struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// junitSkipped is the <skipped> element.
type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// junitCharData is an element holding only text.
type junitCharData struct {
	Text string `xml:",chardata"`
}

// WriteJUnit writes cells to path as JUnit XML, atomically: one <testsuites>
// named suiteName, one <testsuite> per scenario and one <testcase> per cell
// (classname = "<scenario>.<provider>", name = "<cell name>
// [<profile>/<provider>]"). A failed cell carries a <failure> with the
// failing step's error, an error cell an <error>, a skipped cell <skipped>
// with its reason; observations go to <system-out>. Unknown statuses are
// reported as errors. When cells ran on several providers, a last
// testsuite "provider agreement" has one testcase per coordinate that ran on
// two or more (see agreementSuite): a disagreement fails it.
func WriteJUnit(path string, suiteName string, cells []*results.Cell) error {
	root := junitSuites{Name: suiteName}
	var totalMS int64
	var suiteMS []int64
	index := map[string]int{}
	for _, c := range sortedCells(cells) {
		i, ok := index[c.Scenario]
		if !ok {
			i = len(root.Suites)
			index[c.Scenario] = i
			root.Suites = append(root.Suites, junitSuite{Name: c.Scenario})
			suiteMS = append(suiteMS, 0)
		}
		s := &root.Suites[i]
		tc := junitCase{
			ClassName: c.Scenario + "." + c.Provider,
			Name:      fmt.Sprintf("%s [%s/%s]", c.Name, c.Profile, c.Provider),
			Time:      seconds(c.DurationMS),
			File:      c.FeatureFile,
			Line:      c.Line,
		}
		switch c.Status {
		case results.Passed:
		case results.Failed:
			tc.Failure = failureOf(c)
			s.Failures++
		case results.Skipped:
			tc.Skipped = &junitSkipped{Message: c.Error}
			s.Skipped++
		default:
			tc.Error = errorOf(c)
			s.Errors++
		}
		if out := systemOut(c); out != "" {
			tc.SystemOut = &junitCharData{out}
		}
		s.Cases = append(s.Cases, tc)
		s.Tests++
		if !c.StartedAt.IsZero() {
			ts := c.StartedAt.UTC().Format("2006-01-02T15:04:05")
			if s.Timestamp == "" || ts < s.Timestamp {
				s.Timestamp = ts
			}
		}
		suiteMS[i] += c.DurationMS
		totalMS += c.DurationMS
	}
	if s := agreementSuite(cells); s != nil {
		root.Suites = append(root.Suites, *s)
		suiteMS = append(suiteMS, 0)
	}
	for i := range root.Suites {
		s := &root.Suites[i]
		s.Time = seconds(suiteMS[i])
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Errors += s.Errors
		root.Skipped += s.Skipped
	}
	root.Time = seconds(totalMS)

	data, err := xml.MarshalIndent(root, "", "  ")
	if err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	data = append([]byte(xml.Header), append(data, '\n')...)
	if err := results.WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// failureOf describes a failed cell: message = the failing step's error,
// text = the step and its full error (and the cell's error, if different).
func failureOf(c *results.Cell) *junitOutcome {
	o := &junitOutcome{Type: "failure"}
	var text []string
	if s := failingStep(c); s != nil {
		o.Message = firstLine(s.Error, 0)
		text = append(text, fmt.Sprintf("step %s %s (line %d) %s", strings.TrimSpace(s.Keyword), s.Text, s.Line, s.Status))
		if s.Error != "" {
			text = append(text, s.Error)
		}
	}
	if c.Error != "" {
		if o.Message == "" {
			o.Message = firstLine(c.Error, 0)
		}
		if len(text) < 2 || text[1] != c.Error {
			text = append(text, c.Error)
		}
	}
	if o.Message == "" {
		o.Message = "an expectation did not hold"
	}
	o.Text = strings.Join(text, "\n")
	return o
}

// errorOf describes a cell in error (or with an unknown status).
func errorOf(c *results.Cell) *junitOutcome {
	o := &junitOutcome{Type: "error", Text: c.Error}
	if c.Status != results.Error {
		o.Type = "unknown-status"
	}
	if o.Text == "" {
		if s := failingStep(c); s != nil {
			o.Text = s.Error
		}
	}
	o.Message = firstLine(o.Text, 0)
	if o.Message == "" {
		o.Message = fmt.Sprintf("cell status %q", c.Status)
	}
	return o
}

// systemOut lists reproduced/expected and the observations, one
// name=value per line, sorted by name.
func systemOut(c *results.Cell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "reproduced=%s\n", reproText(c.Reproduced, "unknown"))
	if c.Expected != "" {
		fmt.Fprintf(&b, "expected=%s\n", c.Expected)
	}
	for _, kv := range sortedObservations(c.Observations) {
		fmt.Fprintf(&b, "%s=%s\n", kv.Name, kv.Value)
	}
	return b.String()
}

// seconds renders milliseconds as JUnit seconds ("1.250").
func seconds(ms int64) string {
	return fmt.Sprintf("%.3f", float64(ms)/1000)
}
