package felix

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/iptables"
	"lab/harness/kernel"
	"lab/harness/netns"
	"lab/harness/testenv"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var eps = []string{"cali7f94ea5f4a1", "cali1b3c5a3b4e2"}

func render(cfg Config) string {
	var b strings.Builder
	for _, t := range Tables(cfg) {
		b.WriteString(t.Render(nil))
	}
	return b.String()
}

// TestGolden pins the exact payload Felix writes per family.
func TestGolden(t *testing.T) {
	for name, cfg := range map[string]Config{
		"ipv4.restore": {Endpoints: eps, NATPools: []string{"10.1.0.0/16"}},
		"ipv6.restore": {IPv6: true, Endpoints: eps, NATPools: []string{"fd01::/64"}},
	} {
		got := render(cfg)
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if diff := cmp.Diff(string(want), got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestCalicoHashes checks Hashes against the values Calico's own test
// expects (felix/iptables/table_test.go at v3.28.1, "after inserting a rule
// then updating the insertions": DROP, ACCEPT, DROP, ACCEPT inserted into
// FORWARD), so the formula is Calico's, not one that merely looks alike.
func TestCalicoHashes(t *testing.T) {
	got := Hashes("FORWARD", []string{"--jump DROP", "--jump ACCEPT", "--jump DROP", "--jump ACCEPT"})
	want := []string{"hecdSCslEjdBPBPo", "plvr29-ZiKUwbzDV", "BMJ7gfua-eMLZ8Gu", "rmnR1gc8haxMy_0W"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hashes (-calico +lab):\n%s", diff)
	}
	a := Hashes("cali-FORWARD", []string{"x", "y"})
	b := Hashes("cali-FORWARD", []string{"z", "y"})
	c := Hashes("cali-INPUT", []string{"x", "y"})
	if a[1] == b[1] || a[0] == c[0] {
		t.Error("a rule's hash does not depend on its chain and the rules before it")
	}
}

func TestShape(t *testing.T) {
	v4 := render(Config{Endpoints: eps, NATPools: []string{"10.1.0.0/16"}})
	v6 := render(Config{IPv6: true, Endpoints: eps})
	var noInserts []string
	for _, l := range strings.Split(v4, "\n") {
		if strings.HasPrefix(l, ":") {
			l = strings.TrimSuffix(l, " -") + " [0:0]" // declarations as iptables-save writes them
		}
		if !strings.HasPrefix(l, "-I ") && !strings.HasPrefix(l, "-A FORWARD ") {
			noInserts = append(noInserts, l)
		}
	}
	d, err := iptables.Parse(strings.Join(noInserts, "\n"))
	if err != nil {
		t.Fatalf("payload does not parse as iptables-save: %v", err)
	}
	for _, want := range []string{
		"--jump MARK --set-mark 0x10000/0x10000", "--jump MARK --set-mark 0/0xf0000", "--goto cali-fw-cali1b3c5a3b4e2",
		"-I FORWARD -m comment --comment \"cali:", ":cali-FORWARD - -\n", "*nat\n",
		"-A cali-PREROUTING -m comment --comment \"cali:", "-m rpfilter --invert --validmark --jump DROP",
		"--source 10.1.0.0/16 ! --destination 10.1.0.0/16 --jump MASQUERADE --random-fully",
	} {
		if !strings.Contains(v4, want) {
			t.Errorf("IPv4 payload lacks %q", want)
		}
	}
	for _, tb := range d.Tables {
		for _, c := range tb.Chains {
			for _, r := range c.Rules {
				if !strings.HasPrefix(strings.Join(r.Args[:3], " "), "-m comment --comment") || !strings.HasPrefix(r.Args[3], HashPrefix) || len(r.Args[3]) != len(HashPrefix)+HashLength {
					t.Errorf("rule without a leading cali:<hash> comment: %s", r.Raw)
				}
			}
		}
	}
	if strings.Contains(v4, "icmp6") || !strings.Contains(v6, "--icmpv6-type 135") || !strings.Contains(v6, "*nat\n") || strings.Contains(v6, "MASQUERADE") {
		t.Error("family-specific rules misplaced")
	}
	if render(Config{Endpoints: []string{eps[1], eps[0]}, NATPools: []string{"10.1.0.0/16"}}) != v4 {
		t.Error("payload depends on endpoint order")
	}
	// A dataplane that already holds everything needs no restore at all.
	for _, tb := range Tables(Config{Endpoints: eps}) {
		dp := Dataplane{}
		for _, c := range tb.Chains {
			dp[c.Name] = Hashes(c.Name, c.Rules)
		}
		for _, c := range append(tb.Inserts, tb.Appends...) {
			dp[c.Name] = append(dp[c.Name], Hashes(c.Name, c.Rules)...)
		}
		if in := tb.Render(dp); in != "" {
			t.Errorf("%s in sync, yet Render writes:\n%s", tb.Name, in)
		}
	}
}

func tempNS(t *testing.T) string {
	t.Helper()
	testenv.Root(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "lab-fxtest-" + hex.EncodeToString(b)
	path, err := netns.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(context.Background(), name) })
	return path
}

// TestApplyKernel runs the stand-in with the real binaries in throwaway
// namespaces: both families apply, twice (the second start finds every
// chain in sync and must not duplicate the jumps into built-in chains),
// with the backend auto-detected as legacy on an empty node; then with the
// IPv6 MARK target hidden by a kernel profile the IPv6 raw table fails 11
// times with iptables' own output, Felix panics in each start and is not
// ready, and IPv4 is unharmed.
func TestApplyKernel(t *testing.T) {
	_, lib := testenv.Prereqs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := tempNS(t)
	a := &Agent{Runner: netns.Runner{Path: path}}
	for i := 0; i < 2; i++ {
		for _, v6 := range []bool{false, true} {
			rep, err := a.Run(ctx, Config{IPv6: v6, Endpoints: eps})
			if err != nil || !rep.Ready || rep.Detection.Backend != "legacy" {
				t.Fatalf("run (ipv6=%v, round %d): ready=%v backend=%+v err=%v", v6, i, rep.Ready, rep.Detection, err)
			}
			if i == 1 && len(rep.Starts[0].Attempts) != 4 {
				t.Errorf("second round: %d attempts, want 4 (one read per table)", len(rep.Starts[0].Attempts))
			}
			for _, at := range rep.Starts[0].Attempts {
				if i == 1 && at.Input != "" {
					t.Errorf("second round rewrote %s:\n%s", at.Table, at.Input)
				}
			}
		}
	}
	for _, save := range []string{"iptables-legacy-save", "ip6tables-legacy-save"} {
		out, err := execx.Output(ctx, netns.Runner{Path: path}, save)
		if err != nil {
			t.Fatal(err)
		}
		d, err := iptables.Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Jumps("filter", "FORWARD"); got != 1 {
			t.Errorf("%s: FORWARD jumps to Felix chains = %d, want 1:\n%s", save, got, out)
		}
		if got := len(d.Chain("filter", "FORWARD").Rules); got != 3 {
			t.Errorf("%s: FORWARD has %d rules, want 3 (1 insert, 2 appends)", save, got)
		}
		if d.Chain("nat", "cali-nat-outgoing") == nil || d.Chain("raw", "cali-rpf-skip") == nil {
			t.Errorf("%s: no nat table or raw rpf chain:\n%s", save, out)
		}
		if !strings.Contains(out, "-j MARK --set-xmark 0x10000/0x10000") || !strings.Contains(out, "-m rpfilter --validmark --invert -j DROP") {
			t.Errorf("%s: no MARK or rpfilter rule committed:\n%s", save, out)
		}
	}

	path2 := tempNS(t)
	env := kernel.Env(lib, []kernel.Hidden{{Family: "ipv6", Kind: "target", Name: "MARK"}})
	var slept []time.Duration
	a = &Agent{Runner: netns.Runner{Path: path2, Env: env}, Sleep: func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}}
	if rep, err := a.Run(ctx, Config{Endpoints: eps}); err != nil || !rep.Ready {
		t.Errorf("IPv4 with only IPv6 MARK hidden: ready=%v err=%v", rep.Ready, err)
	}
	rep, err := a.Run(ctx, Config{IPv6: true, Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ready || rep.Panics() != 2 || len(rep.Starts) != 2 {
		t.Fatalf("IPv6 with MARK hidden: ready=%v panics=%d starts=%d, want not ready after 2 panics", rep.Ready, rep.Panics(), len(rep.Starts))
	}
	s := rep.Starts[0]
	if s.Failed != "raw" || len(s.Attempts) != Retries+1 || !strings.Contains(s.Err.Error(), `"--set-mark"`) || !strings.Contains(s.Panic, PanicMessage) {
		t.Errorf("start 1: failed %q after %d attempts, err %v, panic %q", s.Failed, len(s.Attempts), s.Err, s.Panic)
	}
	if len(slept) != 2*Retries || slept[0] != time.Millisecond || slept[Retries-1] != 512*time.Millisecond || s.Slept != 1023*time.Millisecond {
		t.Errorf("backoffs %v (start 1 slept %v), want 1ms doubling to 512ms, 1023ms per start", slept, s.Slept)
	}
	if !strings.Contains(rep.Version, "ip6tables-restore v") {
		t.Errorf("version %q", rep.Version)
	}
	out, _ := execx.Output(ctx, netns.Runner{Path: path2}, "ip6tables-legacy-save")
	if strings.Contains(out, "cali-") {
		t.Errorf("IPv6 Felix rules committed although MARK is hidden:\n%s", out)
	}
}
