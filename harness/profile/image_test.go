package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageNamesARecipe(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(RecipesDir(dir), 0o755)
	os.WriteFile(filepath.Join(RecipesDir(dir), "debian-x.yaml"), []byte("suite: bookworm\n"), 0o644)
	write(t, dir, "node", "image: debian-x\n")
	write(t, dir, "child", "extends: [node]\n")
	write(t, dir, "typo", "description: d\nimage: debian-y\n")
	write(t, dir, "none", "description: no image\n")
	for name, want := range map[string]string{"node": "debian-x", "child": "debian-x", "none": ""} {
		p, err := Load(dir, name)
		if err != nil || p.Image != want {
			t.Errorf("%s: image %q, err %v; want %q", name, p.Image, err, want)
		}
	}
	_, err := Load(dir, "typo")
	if err == nil || !strings.Contains(err.Error(), `typo.yaml: image: unknown image "debian-y"; recipes in `) || !strings.Contains(err.Error(), ": debian-x") {
		t.Errorf("unknown image: %v", err)
	}
	// The repository's recipes are what profiles can name.
	write(t, dir, "real", "image: debian-bullseye\n")
	os.RemoveAll(RecipesDir(dir))
	os.Symlink(filepath.Join(mustAbs(t, "../../images"), "recipes"), RecipesDir(dir))
	if p, err := Load(dir, "real"); err != nil || p.Image != "debian-bullseye" {
		t.Errorf("repository recipe: %v", err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
