package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds a profile file (1 MiB): profiles are hand-written.
const MaxFileSize = 1 << 20

// checkDocument rejects what YAML would silently drop from a profile: a
// second document after `---`, and an issue reference such as `#4963`
// after a space in a plain value, which YAML reads as a comment.
func checkDocument(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return fmt.Errorf("line %d: a second YAML document; a profile is one document (remove the `---` and what follows, or put it in its own file)", second.Line)
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	return commentedValues(&first)
}

// commentedValues finds a plain scalar followed on its line by a comment
// that starts like an issue number ("#4963"): almost certainly text cut off.
func commentedValues(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Style == 0 && looksLikeIssue(n.LineComment) {
		return fmt.Errorf("line %d: %q is cut off at %q, which YAML reads as a comment; quote the value (\"...\")", n.Line, n.Value, n.LineComment)
	}
	for _, c := range n.Content {
		if err := commentedValues(c); err != nil {
			return err
		}
	}
	return nil
}

func looksLikeIssue(comment string) bool {
	rest, ok := strings.CutPrefix(comment, "#")
	return ok && rest != "" && rest[0] >= '0' && rest[0] <= '9'
}
