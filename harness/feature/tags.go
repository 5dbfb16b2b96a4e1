package feature

import "strings"

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
