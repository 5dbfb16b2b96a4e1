package scenarios

import (
	"errors"
	"io"
	"testing"

	"lab/harness/results"
)

// TestConditionBounds pins each operator at and around its bounds: `at
// least N` holds at N, `at most N` holds at N, `between` is inclusive.
func TestConditionBounds(t *testing.T) {
	for _, tc := range []struct {
		cond string
		v    any
		want bool
	}{
		{"at least 3", 3, true}, {"at least 3", 2.9, false}, {"at least 3", 4, true},
		{"at least 50%", "50", true}, {"at least 50%", 49.5, false},
		{"at most 2", 2, true}, {"at most 2", 2.1, false}, {"at most 2", 0, true},
		{"between 40% and 60%", 40, true}, {"between 40% and 60%", 60, true},
		{"between 40% and 60%", 39.9, false}, {"between 40% and 60%", 60.1, false},
		{`"200"`, "200", true}, {`"200"`, 200, true}, {`"200"`, "2000", false},
		{`"timeout|refused"`, "refused", true}, {`"timeout|refused"`, "200", false},
		{`not "200"`, "timeout", true}, {`not "200"`, "200", false},
		{`not "200|301"`, "301", false},
	} {
		c, err := ParseCond(tc.cond)
		if err != nil {
			t.Fatalf("ParseCond(%q): %v", tc.cond, err)
		}
		if got, err := c.Holds(tc.v); err != nil || got != tc.want {
			t.Errorf("%s on %v = %v, %v; want %v", tc.cond, tc.v, got, err, tc.want)
		}
	}
	for _, bad := range []string{"at least abc", "between 1 and", "more than 3", `"unterminated`, ""} {
		if _, err := ParseCond(bad); err == nil {
			t.Errorf("ParseCond(%q) accepted", bad)
		}
	}
	c, _ := ParseCond("at least 3")
	if _, err := c.Holds("timeout"); err == nil {
		t.Error("a numeric condition on a non-number held or failed silently")
	}
}

// TestSignaturesAnyHolds: the reported failure is present when any
// declared signature holds, whatever the order they are declared in.
func TestSignaturesAnyHolds(t *testing.T) {
	for _, order := range [][2]string{{"jumps", "http"}, {"http", "jumps"}} {
		cell := &results.Cell{}
		w := NewWorld(nil, cell, io.Discard)
		w.Observe("jumps", 4)
		w.Observe("http", "200")
		conds := map[string]string{"jumps": "at least 3", "http": `not "200"`}
		for _, name := range order {
			if err := w.signature(name, conds[name]); err != nil {
				t.Fatal(err)
			}
		}
		if cell.Reproduced == nil || !*cell.Reproduced {
			t.Errorf("signatures %v: reproduced = %v, want true (jumps holds)", order, cell.Reproduced)
		}
		if err := w.failureShouldBe("present"); err != nil {
			t.Errorf("present: %v", err)
		}
		var ee *ExpectationError
		if err := w.failureShouldBe("absent"); !errors.As(err, &ee) {
			t.Errorf("absent on a reproduced failure: %v, want an expectation error", err)
		}
	}
	cell := &results.Cell{}
	w := NewWorld(nil, cell, io.Discard)
	w.Observe("jumps", 2)
	w.Observe("http", "200")
	w.signature("jumps", "at least 3")
	w.signature("http", `not "200"`)
	if cell.Reproduced == nil || *cell.Reproduced {
		t.Errorf("no signature holds: reproduced = %v, want false", cell.Reproduced)
	}
	if err := w.failureShouldBe("absent"); err != nil {
		t.Errorf("absent: %v", err)
	}
	if err := NewWorld(nil, &results.Cell{}, io.Discard).failureShouldBe("present"); err == nil {
		t.Error("failure expectation without a signature accepted")
	}
}
