package felix

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"lab/harness/iptables"
)

// HashLength is the length of the hash in a rule's "cali:" comment.
const HashLength = 16

// HashPrefix starts the first comment of every rule Felix writes.
const HashPrefix = "cali:"

// Hashes returns Felix's rule hashes for a chain's rules, as RuleHashes in
// felix/iptables/rules.go (v3.28.1; generictables.RuleHashes later): the
// SHA-224 of the chain name seeds the chain; each rule's hash is the SHA-224
// of the previous hash followed by the rule rendered as an append with the
// literal "HASH" in place of the hash comment (`-A CHAIN HASH <rule>`); the
// hash is the first HashLength characters of its unpadded URL-safe base64.
// A rule's hash therefore depends on its chain, its position and every rule
// before it.
func Hashes(chain string, rules []string) []string {
	out := make([]string, len(rules))
	h := sha256.Sum224([]byte(chain))
	prev := h[:]
	for i, r := range rules {
		s := sha256.New224()
		s.Write(prev)
		s.Write([]byte(renderAppend(chain, "HASH", r)))
		prev = s.Sum(nil)
		out[i] = base64.RawURLEncoding.EncodeToString(prev)[:HashLength]
	}
	return out
}

// renderAppend is Felix's RenderAppend: "-A", the chain, the hash fragment
// and the rule, joined by single spaces (empty parts left out).
func renderAppend(chain, hashFragment, rule string) string {
	parts := []string{"-A", chain}
	for _, p := range []string{hashFragment, rule} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

func hashComment(h string) string { return `-m comment --comment "` + HashPrefix + h + `"` }

// hashRe finds the hash in a saved rule; Felix always writes it first.
var hashRe = regexp.MustCompile(`--comment "?` + HashPrefix + `([a-zA-Z0-9_-]+)"?`)

// Dataplane is what Felix reads back from iptables-save for one table: per
// chain, the cali: hashes of its rules in order ("" for a rule without one).
// A chain that is absent is not in the map.
type Dataplane map[string][]string

// ReadDataplane extracts the hashes of one table from iptables-save output.
func ReadDataplane(save, table string) (Dataplane, error) {
	d, err := iptables.Parse(save)
	if err != nil {
		return nil, err
	}
	dp := Dataplane{}
	t := d.Tables[table]
	if t == nil {
		return dp, nil
	}
	for name, c := range t.Chains {
		hs := []string{}
		for _, r := range c.Rules {
			h := ""
			if m := hashRe.FindStringSubmatch(r.Raw); m != nil {
				h = m[1]
			}
			hs = append(hs, h)
		}
		dp[name] = hs
	}
	return dp, nil
}

// Render returns the iptables-restore input (for --noflush) that brings the
// table from dp to t, as Felix's applyUpdates orders it: a forward reference
// (`:chain - -`, which creates or flushes it) for each of Felix's chains
// that is absent or differs, then those chains' rules, then the inserts and
// appends into built-in chains that dp lacks. It returns "" when dp already
// matches, and Felix then runs no iptables-restore. A nil dp writes all.
// Felix rewrites a differing chain rule by rule (-R, -D) in legacy mode;
// the stand-in flushes and rewrites it, to the same result.
func (t Table) Render(dp Dataplane) string {
	var refs, lines []string
	for _, c := range t.Chains {
		want := Hashes(c.Name, c.Rules)
		if have, ok := dp[c.Name]; ok && slices.Equal(have, want) {
			continue
		}
		refs = append(refs, fmt.Sprintf(":%s - -", c.Name))
		for i, r := range c.Rules {
			lines = append(lines, renderAppend(c.Name, hashComment(want[i]), r))
		}
	}
	for _, c := range t.Inserts {
		hs := Hashes(c.Name, c.Rules)
		// -I puts each rule first: insert in reverse to keep their order.
		for i := len(c.Rules) - 1; i >= 0; i-- {
			if !slices.Contains(dp[c.Name], hs[i]) {
				lines = append(lines, fmt.Sprintf("-I %s %s %s", c.Name, hashComment(hs[i]), c.Rules[i]))
			}
		}
	}
	for _, c := range t.Appends {
		hs := Hashes(c.Name, c.Rules)
		for i, r := range c.Rules {
			if !slices.Contains(dp[c.Name], hs[i]) {
				lines = append(lines, renderAppend(c.Name, hashComment(hs[i]), r))
			}
		}
	}
	if len(refs)+len(lines) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s\n", t.Name)
	for _, l := range append(refs, lines...) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}
