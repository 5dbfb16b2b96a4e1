package features

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"

	"lab/harness/netnsprov"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// TestNoFlipsUnderLoad runs the whole netns matrix LAB_FLIPS times (default
// 2; `make flips` runs 20) twice at once, each with -j 2, and reports every
// cell whose verdict differs between attempts or is bad: a verdict must
// never flip because the machine is busy. Every attempt is recorded, none
// is retried.
func TestNoFlipsUnderLoad(t *testing.T) {
	plugins, hidext := testenv.Prereqs(t)
	kubeProxy := testenv.KubeProxy(t, testenv.KubeProxyVersions...)
	repeat := 2
	if v := os.Getenv("LAB_FLIPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			t.Fatalf("LAB_FLIPS=%q: want a number of repeats, 1-1000", v)
		}
		repeat = n
	}
	cells := allCellsT(t)
	verdicts := map[string]map[string]int{} // cell key -> verdict -> count
	var mu sync.Mutex
	var wg sync.WaitGroup
	for m := 0; m < 2; m++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run, err := runner.NewRun()
			if err != nil {
				t.Error(err)
				return
			}
			defer run.Close()
			opts := &runner.Options{ProfilesDir: "../images", PluginDir: plugins, KubeProxyDir: kubeProxy, HidextLib: hidext, Run: run}
			jobs := runner.Expand(cells, []provider.Provider{netnsprov.New()}, repeat, uint64(m+1))
			for _, res := range opts.RunJobs(context.Background(), jobs, 2, nil) {
				mu.Lock()
				k := res.Key()
				if verdicts[k] == nil {
					verdicts[k] = map[string]int{}
				}
				verdicts[k][res.Verdict]++
				if results.Bad(res.Verdict) {
					t.Logf("%s attempt %d: %s: %s", res.ID, res.Attempt, res.Verdict, res.Error)
					for _, e := range res.Evidence {
						if e.Kind != "rules" {
							t.Logf("  evidence %s:\n%s", e.Name, e.Text)
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var flips []string
	total := 0
	for k, vs := range verdicts {
		for v, n := range vs {
			total += n
			if len(vs) > 1 || results.Bad(v) {
				flips = append(flips, fmt.Sprintf("%s: %s x%d", k, v, n))
			}
		}
	}
	sort.Strings(flips)
	t.Logf("%d cells x %d repeats x 2 concurrent matrices = %d attempts; flips or bad verdicts: %d", len(verdicts), repeat, total, len(flips))
	if want := len(cells) * repeat * 2; total != want {
		t.Errorf("%d attempts recorded, want %d", total, want)
	}
	for _, f := range flips {
		t.Error(f)
	}
}
