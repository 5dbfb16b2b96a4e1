package reports

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPublishAtomic: the site is built aside and swapped in; a second
// publish replaces it whole; nothing is left beside it; the results store
// cannot be the site.
func TestPublishAtomic(t *testing.T) {
	out := t.TempDir()
	storeNights(t, out)
	parent := t.TempDir()
	site := filepath.Join(parent, "site")
	s := Site{Out: out, Dir: site, Now: time.Now}
	if _, err := PublishAtomic(s); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(site, "stale.html"), []byte("old"), 0o644)
	res, err := PublishAtomic(s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Index != filepath.Join(site, "index.html") {
		t.Errorf("index %s", res.Index)
	}
	for _, p := range []string{"index.html", "nights.html", "runs/" + run2 + "/index.html"} {
		if _, err := os.Stat(filepath.Join(site, p)); err != nil {
			t.Errorf("published site lacks %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(site, "stale.html")); !os.IsNotExist(err) {
		t.Error("the old site was not replaced whole")
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Errorf("left beside the site: %v", ents)
	}
	if _, err := PublishAtomic(Site{Out: out, Dir: out}); err == nil {
		t.Error("published over the results store")
	}
}
