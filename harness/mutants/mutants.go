// Package mutants keeps the mutations the lab's tests must catch: each is
// one patch file in testdata/ whose header names what it breaks and which
// tests must then fail:
//
//	# mutant: the probe classifier reports refused as timeout
//	# test: ./harness/probe            (packages, space-separated)
//	# run: TestClassify                (a go test -run pattern)
//	diff --git a/harness/probe/probe.go b/harness/probe/probe.go
//	...
//
// `make mutants` applies each patch to a copy of the repository, builds
// it, runs the named tests and fails unless they fail (the mutant is
// caught). Adding a mutation is adding one file.
package mutants

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Mutant is one patch and the tests that must catch it.
type Mutant struct {
	// Name is the patch file's base name without .patch.
	Name string
	// What says what the mutation breaks.
	What string
	// Packages are the go test package patterns to run.
	Packages []string
	// Run is the go test -run pattern (empty: every test of Packages).
	Run string
	// Patch is the path of the patch file.
	Patch string
}

// Load reads the mutants in dir (*.patch), sorted by name. A patch without
// a `# test:` header is an error naming the file.
func Load(dir string) ([]Mutant, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.patch"))
	if err != nil {
		return nil, err
	}
	var out []Mutant
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m := Mutant{Name: strings.TrimSuffix(filepath.Base(f), ".patch"), Patch: f}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "#") {
				break
			}
			key, val, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
			val = strings.TrimSpace(val)
			switch key {
			case "mutant":
				m.What = val
			case "test":
				m.Packages = strings.Fields(val)
			case "run":
				m.Run = val
			}
		}
		if len(m.Packages) == 0 || m.What == "" {
			return nil, fmt.Errorf("%s: needs `# mutant: WHAT` and `# test: PACKAGES` header lines before the diff", f)
		}
		out = append(out, m)
	}
	return out, nil
}
