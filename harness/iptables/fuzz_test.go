package iptables

import (
	"strings"
	"testing"
)

// FuzzParseSave feeds arbitrary text to the iptables-save parser: a dump
// or an error, never a panic; every parsed rule belongs to a declared
// table and the queries answer on any dump.
func FuzzParseSave(f *testing.F) {
	f.Add(natAfterStopStart)
	f.Add("*filter\n:INPUT ACCEPT [0:0]\n[3:180] -A INPUT -m comment --comment \"a \\\"b\\\"\" -j DROP\nCOMMIT\n")
	f.Add("*nat\n-A X -j Y\n")
	f.Add("-A X\n")
	f.Add("*raw\n:PREROUTING ACCEPT [1:2]\n-A PREROUTING -p tcp -j TRACE\nCOMMIT\n*mangle\nCOMMIT\n")
	f.Add("*t\n-A C 'unterminated\n")
	f.Fuzz(func(t *testing.T, text string) {
		d, err := Parse(text)
		if err != nil {
			return
		}
		for name, tb := range d.Tables {
			if tb == nil || tb.Name != name {
				t.Fatalf("table %q malformed: %+v", name, tb)
			}
			for _, cn := range tb.Order {
				c := d.Chain(name, cn)
				if c == nil {
					t.Fatalf("chain %s/%s declared but not found", name, cn)
				}
				_ = d.Jumps(name, cn)
				for _, r := range c.Rules {
					if r.Line < 1 || strings.Contains(r.Raw, "\n") {
						t.Errorf("rule %+v", r)
					}
				}
			}
		}
	})
}
