package lxdprov

import (
	"context"
	"strings"
	"testing"

	lxd "github.com/canonical/lxd/client"
)

// TestPlaceCell places cells on the least busy member, round robin among
// equals, and a released cell frees its member.
func TestPlaceCell(t *testing.T) {
	ctx := context.Background()
	p := &Provider{c: struct{ lxd.InstanceServer }{}, place: placer{loaded: true, members: []string{"m1", "m2", "m3"}, busy: map[string]int{}}}
	var got []string
	var releases []func()
	for i := 0; i < 6; i++ {
		m, load, rel, err := p.placeCell(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := i/3 + 1; load != want {
			t.Errorf("cell %d on %s: load %d, want %d", i, m, load, want)
		}
		got = append(got, m)
		releases = append(releases, rel)
	}
	if want := "m1 m2 m3 m1 m2 m3"; strings.Join(got, " ") != want {
		t.Errorf("placed %s, want %s", strings.Join(got, " "), want)
	}
	releases[1]() // m2 frees a slot
	releases[1]() // twice counts once
	if m, _, _, _ := p.placeCell(ctx); m != "m2" {
		t.Errorf("after m2 freed a cell: placed on %s", m)
	}
	if p.place.busy["m2"] != 2 || p.place.busy["m1"] != 2 || p.place.busy["m3"] != 2 {
		t.Errorf("busy %v", p.place.busy)
	}
	// A pinned Target or a daemon off a cluster places nothing.
	p.opts.Remote.Target = "m1"
	if m, _, _, err := p.placeCell(ctx); m != "" || err != nil {
		t.Errorf("with Target: placed on %q (%v)", m, err)
	}
}
