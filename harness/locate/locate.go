// Package locate finds the lab's own files (built CNI plugins, the probe
// library, features, profiles) whether lab runs from the repository, from
// bin/, or from `go test` in a package directory.
package locate

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Root returns the repository root: the nearest directory above the current
// directory, or above the executable, that holds go.mod and features/.
func Root() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, s := range starts {
		for d := s; ; d = filepath.Dir(d) {
			if isFile(filepath.Join(d, "go.mod")) && isDir(filepath.Join(d, "features")) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("cannot find the lab repository (a directory with go.mod and features/) above %v; run lab from its checkout", starts)
}

// Path returns the first existing of: the value of env (when set), rel next
// to the executable, rel under the repository root. The error names the make
// target that builds it.
func Path(env, rel, makeTarget string) (string, error) {
	if v := os.Getenv(env); v != "" {
		if exists(v) {
			return v, nil
		}
		return "", fmt.Errorf("%s=%s does not exist", env, v)
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), filepath.Base(rel))
		if exists(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if root, err := Root(); err == nil {
		p := filepath.Join(root, rel)
		if exists(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("%s not built (looked in %v); run `make %s` or set %s", filepath.Base(rel), tried, makeTarget, env)
}

// BaseNames lists the files in dir ending in ext (".yaml"), by base name
// without ext, sorted: profile and recipe names.
func BaseNames(dir, ext string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if isDir(f) {
			continue // a directory named like a file is not one
		}
		out = append(out, strings.TrimSuffix(filepath.Base(f), ext))
	}
	sort.Strings(out)
	return out, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
func isFile(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }
func isDir(p string) bool  { st, err := os.Stat(p); return err == nil && st.IsDir() }
