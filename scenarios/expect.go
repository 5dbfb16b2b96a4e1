package scenarios

import (
	"fmt"
	"strconv"
	"strings"
)

func init() {
	register(Def{Subject: "expectations", Pattern: `^observation "([^"]+)" should be (.+)$`,
		Params:  []Param{P("observation", Name), P("condition", Condition)},
		Doc:     "Asserts on a recorded observation. The condition is one of: \"V\" (equal; \"A|B\" accepts either), not \"V\", containing \"V\" (the text contains V), at least N, at most N, between N and M (inclusive; N may end in %). An unmet condition fails the cell (status failed, not error).",
		Example: `Then observation "dnat_jumps_after" should be "4"`,
		bind:    func(w *World) any { return w.shouldBe }})
	register(Def{Subject: "expectations", Pattern: `^the reported failure is present when observation "([^"]+)" is (.+)$`,
		Params:  []Param{P("observation", Name), P("condition", Condition)},
		Doc:     "Declares a signature of the reported failure, with the same conditions as `should be`. The cell's `reproduced` is true when any declared signature holds.",
		Example: `Then the reported failure is present when observation "public_http_80" is not "200"`,
		bind:    func(w *World) any { return w.signature }})
	register(Def{Subject: "expectations", Pattern: `^the reported failure should be (present|absent)$`,
		Params:  []Param{P("expectation", Text)},
		Doc:     "Asserts that the failure signatures declared before it did (present) or did not (absent) hold, and records the expectation in the cell.",
		Example: `Then the reported failure should be present`,
		bind:    func(w *World) any { return w.failureShouldBe }})
}

// Cond is a parsed condition on an observation.
type Cond struct {
	Op     string // eq, ne, contains, ge, le, between
	Values []string
	Lo, Hi float64
}

// ParseCond parses the condition grammar of the expectation steps.
func ParseCond(s string) (Cond, error) {
	s = strings.TrimSpace(s)
	quoted := func(q string) (string, bool) {
		if len(q) >= 2 && q[0] == '"' && q[len(q)-1] == '"' {
			return q[1 : len(q)-1], true
		}
		return "", false
	}
	if v, ok := quoted(s); ok {
		return Cond{Op: "eq", Values: strings.Split(v, "|")}, nil
	}
	if rest, ok := strings.CutPrefix(s, "not "); ok {
		if v, ok := quoted(strings.TrimSpace(rest)); ok {
			return Cond{Op: "ne", Values: strings.Split(v, "|")}, nil
		}
	}
	if rest, ok := strings.CutPrefix(s, "containing "); ok {
		if v, ok := quoted(strings.TrimSpace(rest)); ok {
			return Cond{Op: "contains", Values: []string{v}}, nil
		}
	}
	if rest, ok := strings.CutPrefix(s, "at least "); ok {
		n, err := number(rest)
		return Cond{Op: "ge", Lo: n}, err
	}
	if rest, ok := strings.CutPrefix(s, "at most "); ok {
		n, err := number(rest)
		return Cond{Op: "le", Hi: n}, err
	}
	if rest, ok := strings.CutPrefix(s, "between "); ok {
		lo, hi, found := strings.Cut(rest, " and ")
		if found {
			l, err1 := number(lo)
			h, err2 := number(hi)
			if err1 == nil && err2 == nil {
				return Cond{Op: "between", Lo: l, Hi: h}, nil
			}
		}
	}
	return Cond{}, fmt.Errorf(`bad condition %q: want "V", not "V", containing "V", at least N, at most N or between N and M`, s)
}

func number(s string) (float64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// Holds evaluates the condition on an observed value.
func (c Cond) Holds(v any) (bool, error) {
	str := fmt.Sprint(v)
	switch c.Op {
	case "contains":
		return strings.Contains(str, c.Values[0]), nil
	case "eq", "ne":
		in := false
		for _, want := range c.Values {
			if str == want {
				in = true
			}
		}
		return in == (c.Op == "eq"), nil
	}
	n, err := number(str)
	if err != nil {
		return false, fmt.Errorf("observation %v is not numeric", v)
	}
	switch c.Op {
	case "ge":
		return n >= c.Lo, nil
	case "le":
		return n <= c.Hi, nil
	default:
		return n >= c.Lo && n <= c.Hi, nil
	}
}

func (w *World) shouldBe(name, cond string) error {
	c, err := ParseCond(cond)
	if err != nil {
		return err
	}
	v, err := w.Observation(name)
	if err != nil {
		return err
	}
	ok, err := c.Holds(v)
	if err != nil {
		return err
	}
	if !ok {
		return &ExpectationError{Msg: fmt.Sprintf("observation %s = %v, expected it to be %s", name, v, cond)}
	}
	return nil
}

func (w *World) signature(name, cond string) error {
	c, err := ParseCond(cond)
	if err != nil {
		return err
	}
	v, err := w.Observation(name)
	if err != nil {
		return err
	}
	ok, err := c.Holds(v)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.signatures = append(w.signatures, ok)
	any := false
	for _, s := range w.signatures {
		any = any || s
	}
	w.cell.Reproduced = &any
	w.mu.Unlock()
	return nil
}

func (w *World) failureShouldBe(want string) error {
	w.mu.Lock()
	w.cell.Expected = want
	rep := w.cell.Reproduced
	w.mu.Unlock()
	if rep == nil {
		return fmt.Errorf("no failure signature declared before this step; add `the reported failure is present when observation ...`")
	}
	if *rep != (want == "present") {
		got := "absent"
		if *rep {
			got = "present"
		}
		return &ExpectationError{Msg: fmt.Sprintf("the reported failure is %s, expected it %s", got, want)}
	}
	return nil
}
