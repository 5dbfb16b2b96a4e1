package runner

import (
	"context"
	"slices"
	"testing"

	"lab/harness/provider"
)

// fakeProv lists fixed leftovers and records what it is asked to remove.
type fakeProv struct {
	left    []string
	removed []string
}

func (*fakeProv) Name() string                { return "fake" }
func (*fakeProv) Check(context.Context) error { return nil }
func (f *fakeProv) Leftovers(context.Context, string) ([]string, error) {
	return f.left, nil
}
func (f *fakeProv) Remove(_ context.Context, prefix string) error {
	f.removed = append(f.removed, prefix)
	return nil
}
func (*fakeProv) NewEnv(context.Context, string) (provider.Env, error) { return nil, nil }
func (*fakeProv) Shell(context.Context, string, string) ([]string, error) {
	return nil, nil
}

// TestCleanProvider removes what dead runs left on a provider, by cell
// prefix, and leaves live runs, kept cells and resources not named like a
// run's alone.
func TestCleanProvider(t *testing.T) {
	f := &fakeProv{left: []string{
		"container lab-abc123-0-node1", "network lab-abc123-0-public",
		"link lab0a1b2c3da (lab-abc123-1/public)",
		"container lab-abc123-7-node1",   // a kept cell of the dead run
		"container lab-fed456-2-node1",   // a live run's
		"container lab-dtest-0011aabb-a", // a test's, not a run's
	}}
	removed, err := cleanProvider(context.Background(), f, map[string]bool{"fed456": true}, map[string]bool{"lab-abc123-7": true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.removed, []string{"lab-abc123-0-", "lab-abc123-1-"}) {
		t.Errorf("Remove called with %v, want the dead run's two cells, not its kept one", f.removed)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v, want the 3 leftovers of lab-abc123's cells 0 and 1", removed)
	}
}
