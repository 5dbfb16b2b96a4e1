package testenv

import (
	"context"
	"errors"
	"testing"

	"lab/harness/image"
	"lab/harness/provider"
)

// Provider returns p, skipping the test with p's reason when it cannot
// run here (Check's provider.UnavailableError) and failing it on any
// other error.
func Provider(t testing.TB, p provider.Provider) provider.Provider {
	t.Helper()
	if err := p.Check(context.Background()); err != nil {
		var ue *provider.UnavailableError
		if errors.As(err, &ue) {
			t.Skip(err.Error())
		}
		t.Fatal(err)
	}
	return p
}

// NodeImage skips the test when the node image name of the recipes in
// dir is not built (`lab images build NAME` builds it).
func NodeImage(t testing.TB, recipes, name string) {
	t.Helper()
	r, err := image.Load(recipes, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := (&image.Store{Root: image.DefaultRoot}).Get(r); !ok {
		t.Skipf("node image %s is not built; run `lab images build %s`", name, name)
	}
}
