package reports

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"lab/harness/results"
)

// sortedCells returns a sorted copy of cells without nil entries.
func sortedCells(cells []*results.Cell) []*results.Cell {
	out := make([]*results.Cell, 0, len(cells))
	for _, c := range cells {
		if c != nil {
			out = append(out, c)
		}
	}
	results.Sort(out)
	return out
}

// statusClass maps a cell or step status onto one of a fixed set of CSS
// class suffixes; unknown statuses never reach the markup verbatim.
func statusClass(status string) string {
	switch status {
	case results.Passed, results.Failed, results.Error, results.Skipped:
		return status
	case "undefined", "pending":
		return results.Error
	}
	return "unknown"
}

// reproText renders Reproduced as yes, no or the given unknown marker.
func reproText(r *bool, unknown string) string {
	switch {
	case r == nil:
		return unknown
	case *r:
		return "yes"
	}
	return "no"
}

// formatDuration renders milliseconds as a Go duration ("1.5s").
func formatDuration(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

// formatValue renders an observation value: floats without exponent noise,
// strings verbatim, composite values as compact JSON.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	case fmt.Stringer:
		return x.String()
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// keyValue is one named, rendered value (an observation, an environment entry).
type keyValue struct {
	Name, Value string
}

// sortedObservations renders a cell's observations sorted by name.
func sortedObservations(obs map[string]any) []keyValue {
	out := make([]keyValue, 0, len(obs))
	for k, v := range obs {
		out = append(out, keyValue{k, formatValue(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// sortedEnv returns the environment sorted by name.
func sortedEnv(env map[string]string) []keyValue {
	out := make([]keyValue, 0, len(env))
	for k, v := range env {
		out = append(out, keyValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// pinnedView is one pinned fact of a cell page with its upstream source.
type pinnedView struct {
	Name, Value, Source string
}

// pinnedViews lists pinned facts by name, each with its source ("" when
// the profile gives none).
func pinnedViews(pinned, sources map[string]string) []pinnedView {
	out := make([]pinnedView, 0, len(pinned))
	for _, kv := range sortedEnv(pinned) {
		out = append(out, pinnedView{kv.Name, kv.Value, sources[kv.Name]})
	}
	return out
}

// failingStep returns the first failed step (or the first step carrying an
// error) of a cell, or nil.
func failingStep(c *results.Cell) *results.Step {
	for i := range c.Steps {
		if c.Steps[i].Status == results.Failed {
			return &c.Steps[i]
		}
	}
	for i := range c.Steps {
		if c.Steps[i].Error != "" {
			return &c.Steps[i]
		}
	}
	return nil
}

// reason is the best one-piece explanation of a non-passing cell: the
// failing step's error, else the cell's error.
func reason(c *results.Cell) string {
	if s := failingStep(c); s != nil && s.Error != "" && c.Status != results.Skipped {
		return s.Error
	}
	return c.Error
}

// firstLine returns the first non-empty line of s, cut to max runes.
func firstLine(s string, max int) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return truncate(l, max)
		}
	}
	return ""
}

// truncate cuts s to max runes, marking the cut with an ellipsis.
func truncate(s string, max int) string {
	r := []rune(s)
	if max <= 0 || len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}

// safeName turns a cell ID into a file name without separators.
func safeName(id string) string {
	s := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
	if strings.Trim(s, ".") == "" {
		return "cell"
	}
	return s
}

// pageNames assigns every cell a unique page file name (without directory)
// derived from its ID.
func pageNames(cells []*results.Cell) map[*results.Cell]string {
	names := make(map[*results.Cell]string, len(cells))
	used := make(map[string]bool, len(cells))
	for _, c := range cells {
		base := safeName(c.ID)
		name := base + ".html"
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s-%d.html", base, n)
		}
		used[name] = true
		names[c] = name
	}
	return names
}

// tally counts cells per status.
type tally struct {
	Passed, Failed, Errors, Skipped, Other, Total int
}

func countStatuses(cells []*results.Cell) tally {
	var t tally
	for _, c := range cells {
		t.Total++
		switch c.Status {
		case results.Passed:
			t.Passed++
		case results.Failed:
			t.Failed++
		case results.Error:
			t.Errors++
		case results.Skipped:
			t.Skipped++
		default:
			t.Other++
		}
	}
	return t
}

// String renders the totals line, e.g. "3 passed, 0 failed, 0 errors, 0 skipped".
func (t tally) String() string {
	s := fmt.Sprintf("%d passed, %d failed, %d errors, %d skipped", t.Passed, t.Failed, t.Errors, t.Skipped)
	if t.Other > 0 {
		s += fmt.Sprintf(", %d other", t.Other)
	}
	return s
}
