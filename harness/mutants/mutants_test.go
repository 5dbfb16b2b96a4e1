package mutants

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/locate"
)

// TestPatchesApply keeps the mutants current: every patch must apply to
// today's tree (a stale patch is fixed by re-making it with git diff).
func TestPatchesApply(t *testing.T) {
	ms, err := Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 5 {
		t.Fatalf("%d mutants, want at least 5", len(ms))
	}
	root, err := locate.Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		abs, _ := filepath.Abs(m.Patch)
		cmd := exec.Command("git", "apply", "--check", abs)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("mutant %s does not apply: %v\n%s", m.Name, err, out)
		}
	}
}

// TestMutants applies each mutant to a copy of the repository and expects
// its tests to fail. It runs with LAB_MUTANTS=1 (`make mutants`): it
// builds and tests the tree once per mutant.
func TestMutants(t *testing.T) {
	if os.Getenv("LAB_MUTANTS") == "" {
		t.Skip("set LAB_MUTANTS=1 (make mutants) to run the mutation tests")
	}
	ms, err := Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	root, err := locate.Root()
	if err != nil {
		t.Fatal(err)
	}
	only := os.Getenv("LAB_MUTANT") // one mutant by name
	for _, m := range ms {
		if only != "" && m.Name != only {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			dir := copyTree(t, root)
			abs, _ := filepath.Abs(m.Patch)
			run(t, dir, "git", "apply", abs)
			if out, err := command(dir, "go", "build", "./...").CombinedOutput(); err != nil {
				t.Fatalf("mutant %s does not build (fix the patch): %v\n%s", m.Name, err, out)
			}
			args := append([]string{"test", "-count=1"}, m.Packages...)
			if m.Run != "" {
				args = append(args, "-run", m.Run)
			}
			out, err := command(dir, "go", args...).CombinedOutput()
			switch {
			case err == nil:
				t.Errorf("mutant %s SURVIVED (%s): go %s passed\n%s", m.Name, m.What, strings.Join(args, " "), tail(out))
			case strings.Contains(string(out), "[build failed]") || strings.Contains(string(out), "[setup failed]"):
				t.Errorf("mutant %s: the tests did not build, which proves nothing:\n%s", m.Name, tail(out))
			case !strings.Contains(string(out), "--- FAIL"):
				t.Errorf("mutant %s: go test failed without a failing test:\n%s", m.Name, tail(out))
			default:
				t.Logf("mutant %s caught (%s)", m.Name, m.What)
			}
		})
	}
}

// copyTree copies the repository's tracked and untracked (not ignored)
// files into a temp dir, with bin/ (built plugins) linked in, and makes it
// a git repository for git apply.
func copyTree(t *testing.T, root string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := command(root, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or not a file
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, st.Mode()&fs.ModePerm); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "bin")); err == nil {
		os.Symlink(filepath.Join(root, "bin"), filepath.Join(dir, "bin"))
	}
	run(t, dir, "git", "init", "-q")
	return dir
}

func command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LAB_MUTANTS=")
	return cmd
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	if out, err := command(dir, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
