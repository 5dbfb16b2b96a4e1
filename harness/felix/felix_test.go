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
		"ipv4.restore": {Endpoints: eps},
		"ipv6.restore": {IPv6: true, Endpoints: eps},
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

func TestShape(t *testing.T) {
	v4, v6 := render(Config{Endpoints: eps}), render(Config{IPv6: true, Endpoints: eps})
	var noInserts []string
	for _, l := range strings.Split(v4, "\n") {
		if !strings.HasPrefix(l, "-I ") && !strings.HasPrefix(l, "-A FORWARD ") {
			noInserts = append(noInserts, l)
		}
	}
	d, err := iptables.Parse(strings.Join(noInserts, "\n"))
	if err != nil {
		t.Fatalf("payload does not parse as iptables-save: %v", err)
	}
	for _, want := range []string{"--jump MARK --set-mark 0x10000/0x10000", "--goto cali-fw-cali1b3c5a3b4e2", "-I FORWARD 1 -m comment --comment \"cali:"} {
		if !strings.Contains(v4, want) {
			t.Errorf("IPv4 payload lacks %q", want)
		}
	}
	for _, tb := range d.Tables {
		for _, c := range tb.Chains {
			for _, r := range c.Rules {
				if !strings.HasPrefix(r.Args[0]+" "+r.Args[1]+" "+r.Args[2], "-m comment --comment") || !strings.HasPrefix(r.Args[3], "cali:") || len(r.Args[3]) != 5+HashLength {
					t.Errorf("rule without a leading cali:<hash> comment: %s", r.Raw)
				}
			}
		}
	}
	if strings.Contains(v4, "icmp6") || !strings.Contains(v6, "--icmpv6-type 135") || !strings.Contains(v6, "rpfilter") {
		t.Error("family-specific rules misplaced")
	}
	// Endpoint order does not change the payload.
	if render(Config{Endpoints: []string{eps[1], eps[0]}}) != v4 {
		t.Error("payload depends on endpoint order")
	}
}

func TestHashesChain(t *testing.T) {
	a := Hashes("cali-FORWARD", []string{"x", "y"})
	b := Hashes("cali-FORWARD", []string{"z", "y"})
	c := Hashes("cali-INPUT", []string{"x", "y"})
	if a[1] == b[1] {
		t.Error("a rule's hash does not depend on the rules before it")
	}
	if a[0] == c[0] {
		t.Error("a rule's hash does not depend on its chain")
	}
	if len(a[0]) != HashLength || strings.ContainsAny(a[0], "+/=") {
		t.Errorf("hash %q not 16 URL-safe characters", a[0])
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

// TestApplyKernel applies both families with the real legacy binaries in a
// throwaway namespace, twice (the second apply must not duplicate the jumps
// into built-in chains), then with the IPv6 MARK target hidden by a kernel
// profile: the IPv6 tables fail with the kernel's warning, IPv4 is unharmed.
func TestApplyKernel(t *testing.T) {
	_, lib := testenv.Prereqs(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := tempNS(t)
	a := &Agent{Runner: netns.Runner{Path: path}, Backend: "legacy", Backoff: time.Millisecond}
	for i := 0; i < 2; i++ {
		for _, v6 := range []bool{false, true} {
			if _, err := a.Apply(ctx, Config{IPv6: v6, Endpoints: eps}); err != nil {
				t.Fatalf("apply (ipv6=%v, round %d): %v", v6, i, err)
			}
		}
	}
	for _, save := range []string{"iptables-legacy-save", "ip6tables-legacy-save"} {
		out, err := execx.Output(ctx, netns.Runner{Path: path}, save, "-t", "filter")
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
		if !strings.Contains(out, "-j MARK --set-xmark 0x10000/0x10000") {
			t.Errorf("%s: no MARK rule committed:\n%s", save, out)
		}
	}

	path2 := tempNS(t)
	env := kernel.Env(lib, []kernel.Hidden{{Family: "ipv6", Kind: "target", Name: "MARK"}})
	a = &Agent{Runner: netns.Runner{Path: path2, Env: env}, Backend: "legacy", Attempts: 2, Backoff: time.Millisecond}
	if _, err := a.Apply(ctx, Config{Endpoints: eps}); err != nil {
		t.Errorf("IPv4 apply with only IPv6 MARK hidden: %v", err)
	}
	attempts, err := a.Apply(ctx, Config{IPv6: true, Endpoints: eps})
	const warn = "Warning: Extension MARK revision 0 not supported, missing kernel module?"
	if err == nil || !strings.Contains(err.Error(), warn) {
		t.Fatalf("IPv6 apply with MARK hidden: err = %v, want it to carry %q", err, warn)
	}
	if len(attempts) != 6 { // 3 tables x 2 attempts
		t.Errorf("attempts = %d, want 6", len(attempts))
	}
	out, _ := execx.Output(ctx, netns.Runner{Path: path2}, "ip6tables-legacy-save")
	if strings.Contains(out, "cali-") {
		t.Errorf("IPv6 Felix rules committed although MARK is hidden:\n%s", out)
	}
}
