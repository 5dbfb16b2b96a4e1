package feature

import (
	"fmt"
	"strings"
)

// MatchTags evaluates a godog tag expression against a cell's tags:
// `&&` joins terms that must all hold, `,` separates alternatives within a
// term, `~` negates a tag; `@` is optional. "@microk8s-4944,@wsl && ~@slow"
// means (4944 or wsl) and not slow. An empty expression matches everything.
func MatchTags(expr string, tags []string) bool {
	if strings.TrimSpace(expr) == "" {
		return true
	}
	has := func(tag string) bool {
		tag = strings.TrimPrefix(tag, "@")
		for _, t := range tags {
			if strings.TrimPrefix(t, "@") == tag {
				return true
			}
		}
		return false
	}
	for _, and := range strings.Split(expr, "&&") {
		any := false
		for _, alt := range strings.Split(and, ",") {
			alt = strings.TrimSpace(alt)
			if alt == "" {
				continue
			}
			if neg, ok := strings.CutPrefix(alt, "~"); ok {
				any = any || !has(neg)
			} else {
				any = any || has(alt)
			}
		}
		if !any {
			return false
		}
	}
	return true
}

// CheckTags reports why expr is not a tag expression MatchTags understands
// (nil when it is): terms joined by `&&`, alternatives by `,`, each an
// optional `~` and a tag name of letters, digits, '-', '_', '.', ':'.
// Parentheses, `and`/`or`/`not` words and empty terms are errors, so a typo
// never reads as "no cells match".
func CheckTags(expr string) error {
	if strings.TrimSpace(expr) == "" {
		return nil
	}
	for _, and := range strings.Split(expr, "&&") {
		if strings.TrimSpace(and) == "" {
			return fmt.Errorf("bad tag expression %q: empty term around `&&`; write tags like '@microk8s-4944,@wsl && ~@slow'", expr)
		}
		for _, alt := range strings.Split(and, ",") {
			name := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(alt), "~"), "@")
			if name == "" || strings.IndexFunc(name, badTagRune) >= 0 {
				return fmt.Errorf("bad tag expression %q: %q is not a tag; write tags like '@microk8s-4944,@wsl && ~@slow' (`&&` and, `,` or, `~` not; no parentheses)", expr, strings.TrimSpace(alt))
			}
		}
	}
	return nil
}

func badTagRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':')
}
