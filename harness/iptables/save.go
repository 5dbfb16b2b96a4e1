// Package iptables parses iptables-save output into data and answers
// questions about it (how many rules jump from a chain, which rule matched),
// without a kernel. The lab reads rules through the real *-save binaries and
// reasons about them here.
package iptables

import (
	"bufio"
	"fmt"
	"strings"
)

// Rule is one `-A CHAIN ...` line.
type Rule struct {
	Chain string
	// Args are the rule's arguments after the chain name, split like a shell.
	Args []string
	// Target is the value of -j (or -g), "" when the rule has none.
	Target string
	// Comment is the value of --comment, "" when none.
	Comment string
	// Packets and Bytes are the counters when saved with -c.
	Packets, Bytes uint64
	// Line is the 1-based line of the rule in the dump.
	Line int
	// Raw is the line as it was saved.
	Raw string
}

// Chain is a chain of one table.
type Chain struct {
	Name string
	// Policy is ACCEPT/DROP for built-in chains and "-" for user chains.
	Policy string
	Rules  []Rule
}

// Table is one `*table` block of a dump.
type Table struct {
	Name   string
	Chains map[string]*Chain
	// Order is the order chains were declared in.
	Order []string
}

// Dump is a whole iptables-save output.
type Dump struct {
	Tables map[string]*Table
}

// Parse reads iptables-save (or ip6tables-save) output.
func Parse(text string) (*Dump, error) {
	d := &Dump{Tables: map[string]*Table{}}
	var cur *Table
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			cur = &Table{Name: line[1:], Chains: map[string]*Chain{}}
			d.Tables[cur.Name] = cur
		case line == "COMMIT":
			cur = nil
		case strings.HasPrefix(line, ":"):
			if cur == nil {
				return nil, fmt.Errorf("line %d: chain declared outside a table: %q", n, line)
			}
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return nil, fmt.Errorf("line %d: malformed chain declaration: %q", n, line)
			}
			cur.Chains[f[0]] = &Chain{Name: f[0], Policy: f[1]}
			cur.Order = append(cur.Order, f[0])
		default:
			if cur == nil {
				return nil, fmt.Errorf("line %d: rule outside a table: %q", n, line)
			}
			r, err := parseRule(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			r.Line = n
			c, ok := cur.Chains[r.Chain]
			if !ok {
				return nil, fmt.Errorf("line %d: rule for undeclared chain %s", n, r.Chain)
			}
			c.Rules = append(c.Rules, r)
		}
	}
	return d, sc.Err()
}

func parseRule(line string) (Rule, error) {
	r := Rule{Raw: line}
	if strings.HasPrefix(line, "[") {
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return r, fmt.Errorf("malformed counters: %q", line)
		}
		if _, err := fmt.Sscanf(line[1:end], "%d:%d", &r.Packets, &r.Bytes); err != nil {
			return r, fmt.Errorf("malformed counters: %q", line)
		}
		line = strings.TrimSpace(line[end+1:])
	}
	args, err := SplitArgs(line)
	if err != nil {
		return r, err
	}
	if len(args) < 2 || args[0] != "-A" {
		return r, fmt.Errorf("not a rule: %q", line)
	}
	r.Chain, r.Args = args[1], args[2:]
	for i := 0; i+1 < len(r.Args); i++ {
		switch r.Args[i] {
		case "-j", "-g", "--jump", "--goto":
			r.Target = r.Args[i+1]
		case "--comment":
			r.Comment = r.Args[i+1]
		}
	}
	return r, nil
}

// SplitArgs splits a saved rule like iptables-restore does: whitespace
// separates words, double quotes group them, and \" inside quotes is a quote.
func SplitArgs(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case c == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (c == ' ' || c == '\t'):
			if inWord {
				out = append(out, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		out = append(out, b.String())
	}
	return out, nil
}

// Chain returns the named chain of the named table, or nil.
func (d *Dump) Chain(table, chain string) *Chain {
	t := d.Tables[table]
	if t == nil {
		return nil
	}
	return t.Chains[chain]
}

// Jumps counts the rules of a chain that jump (or go) to a user-defined
// chain of the same table, which is how kube-proxy and the CNI portmap
// plugin dispatch to per-service and per-pod chains. A missing chain has 0.
func (d *Dump) Jumps(table, chain string) int {
	c := d.Chain(table, chain)
	if c == nil {
		return 0
	}
	n := 0
	for _, r := range c.Rules {
		if _, user := d.Tables[table].Chains[r.Target]; user {
			n++
		}
	}
	return n
}
