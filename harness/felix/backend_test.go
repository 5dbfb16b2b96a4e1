package felix

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"

	"github.com/google/go-cmp/cmp"
)

// fakeNode answers iptables-save from canned outputs per binary and fails
// every iptables-restore, counting them.
type fakeNode struct {
	saves    map[string]string
	restores int
}

func (f *fakeNode) Run(_ context.Context, c execx.Cmd) (execx.Result, error) {
	bin := c.Argv[0]
	switch {
	case strings.HasSuffix(bin, "-restore") && len(c.Argv) > 1 && c.Argv[1] == "--version":
		return execx.Result{Stdout: []byte(strings.TrimSuffix(bin, "-legacy-restore") + "-restore v1.8.4 (legacy)\n")}, nil
	case strings.HasSuffix(bin, "-restore"):
		f.restores++
		return execx.Result{Stderr: []byte("unknown option \"--set-mark\"\n")}, &execx.Error{Argv: c.Argv, ExitCode: 2, Stderr: "unknown option \"--set-mark\""}
	case strings.HasSuffix(bin, "-save"):
		if s, ok := f.saves[bin+" "+strings.Join(c.Argv[1:], " ")]; ok {
			return execx.Result{Stdout: []byte(s)}, nil
		}
		if s, ok := f.saves[bin]; ok {
			return execx.Result{Stdout: []byte(s)}, nil
		}
		return execx.Result{}, nil
	}
	return execx.Result{}, errors.New("unexpected command " + bin)
}

func TestDetectBackend(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, configured string
		saves            map[string]string
		detected, use    string
	}{
		{"empty node: legacy on a tie", "auto", nil, "legacy", "legacy"},
		{"more nft rules", "auto", map[string]string{"iptables-nft-save": "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n"}, "nft", "nft"},
		{"kubelet's canary in nft mangle beats legacy rules", "auto", map[string]string{
			"iptables-nft-save -t mangle": "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n",
			"iptables-legacy-save":        "*filter\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n",
		}, "nft", "nft"},
		{"hint in legacy mangle", "auto", map[string]string{"ip6tables-legacy-save -t mangle": ":KUBE-IPTABLES-HINT - [0:0]\n"}, "legacy", "legacy"},
		{"configured wins over detection", "NFT", nil, "legacy", "nft"},
	} {
		d, err := DetectBackend(ctx, &fakeNode{saves: tc.saves}, tc.configured)
		if err != nil || d.Detected != tc.detected || d.Backend != tc.use {
			t.Errorf("%s: %+v, %v; want detected %s, used %s", tc.name, d, err, tc.detected, tc.use)
		}
	}
	if _, err := DetectBackend(ctx, &fakeNode{}, "iptables"); err == nil || !strings.Contains(err.Error(), "auto, legacy or nft") {
		t.Errorf("bad backend accepted: %v", err)
	}
}

// TestRetryPolicy checks Felix's numbers without a kernel: 11 restores of
// the failing table (1 + 10 retries), backoffs 1, 2, ... 512 ms, then a
// panic; nothing after the failed table is tried in that start.
func TestRetryPolicy(t *testing.T) {
	node := &fakeNode{}
	var slept []time.Duration
	failedAt := -1 // restores done when Failed was called
	a := &Agent{Runner: node, Starts: 3, Sleep: func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}, Failed: func() {
		if failedAt >= 0 {
			t.Errorf("Failed called again after %d restores", node.restores)
		}
		failedAt = node.restores
	}}
	rep, err := a.Run(context.Background(), Config{IPv6: true, Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ready || rep.Panics() != 3 || node.restores != 3*(Retries+1) {
		t.Fatalf("ready=%v panics=%d restores=%d; want not ready, 3 panics, 33 restores", rep.Ready, rep.Panics(), node.restores)
	}
	if failedAt != 1 {
		t.Errorf("Failed called after %d restores, want once, after the first (before any backoff)", failedAt)
	}
	var want []time.Duration
	for s := 0; s < 3; s++ {
		for d := time.Millisecond; d <= 512*time.Millisecond; d *= 2 {
			want = append(want, d)
		}
	}
	if diff := cmp.Diff(want, slept); diff != "" {
		t.Errorf("backoffs (-felix +lab):\n%s", diff)
	}
	s := rep.Starts[0]
	if s.Took <= 0 {
		t.Errorf("start took %v, want its measured wall time", s.Took)
	}
	if s.Failed != "raw" || s.Slept != 1023*time.Millisecond || s.Attempts[Retries].Backoff != 0 || s.Attempts[0].Backoff != time.Millisecond {
		t.Errorf("start: failed %q slept %v backoffs %v/%v", s.Failed, s.Slept, s.Attempts[0].Backoff, s.Attempts[Retries].Backoff)
	}
	if rep.Version != "ip6tables-restore v1.8.4 (legacy)" || !strings.Contains(s.Panic, PanicMessage) || !strings.Contains(s.Panic, `"--set-mark"`) {
		t.Errorf("version %q panic %q", rep.Version, s.Panic)
	}
}
