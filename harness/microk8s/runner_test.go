package microk8s_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"lab/harness/feature"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
)

// fakeProvider boots its environments' nodes with the recording fakes.
type fakeProvider struct {
	provider.Provider
	fake string
}

func (p fakeProvider) NewEnv(ctx context.Context, prefix string) (provider.Env, error) {
	env, err := p.Provider.NewEnv(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return fakeEnv{Env: env, fake: p.fake}, nil
}

const runnerFeature = `Feature: the microk8s driver through the runner
  Scenario Outline: a node, a client and an HTTP probe on <profile>
    Given a node "node1"
    And a client "client" on the public network
    When I run "iptables-legacy-save -t nat" on "node1"
    And "client" requests HTTP ports "80" of the public address of "node1" as "http"
    Then observation "http_80" should be "200"

    Examples:
      | profile |
      | mk8s    |
`

// TestRunnerPicksTheDriver runs a feature cell whose profile says
// driver: microk8s through the runner, on docker containers with the
// recording fakes: the steps act through the microk8s driver (the fake
// curl's 200, the fake snap's version in the cell's facts), and the
// profile's driver and VM are in its Pinned table.
func TestRunnerPicksTheDriver(t *testing.T) {
	p := fakeProvider{Provider: dockerProvider(t), fake: fakeScript(t)}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mk8s.yaml"), []byte("driver: microk8s\nmicrok8s: {version: \"1.32.2\", channel: 1.32/stable, revision: 7731}\nvm: {image: \"ubuntu:24.04\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	feat := filepath.Join(dir, "mk8s.feature")
	if err := os.WriteFile(feat, []byte(runnerFeature), 0o644); err != nil {
		t.Fatal(err)
	}
	ft, err := feature.Parse(feat)
	if err != nil || len(ft.Cells) != 1 {
		t.Fatalf("feature: %v, %d cells", err, len(ft.Cells))
	}
	run, err := runner.NewRun()
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	opts := &runner.Options{Provider: p, ProfilesDir: dir, Run: run}
	res := opts.Cell(context.Background(), 0, ft.Cells[0])
	if res.Status != results.Passed {
		t.Fatalf("cell %s: %s: %s", res.ID, res.Status, res.Error)
	}
	if res.Pinned["driver"] != "microk8s" || res.Pinned["vm_image"] != "ubuntu:24.04" {
		t.Errorf("pinned: %v", res.Pinned)
	}
	if res.Ran["node1"]["microk8s"] != "v1.32.2 (snap revision 7731)" {
		t.Errorf("ran: %v", res.Ran)
	}
	if left, _ := p.Leftovers(context.Background(), run.Prefix); len(left) > 0 {
		t.Errorf("left after the cell: %v", left)
		_ = p.Remove(context.Background(), run.Prefix)
	}
}
