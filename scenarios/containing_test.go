package scenarios

import "testing"

func TestContainingCondition(t *testing.T) {
	c, err := ParseCond(`containing "missing kernel module?"`)
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{
		"Warning: Extension MARK revision 0 not supported, missing kernel module?\nError occurred at line: 8": true,
		"ok": false,
		"":   false,
	} {
		if got, err := c.Holds(v); err != nil || got != want {
			t.Errorf("containing on %q = %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := ParseCond(`containing missing`); err == nil {
		t.Error("unquoted containing accepted")
	}
}
