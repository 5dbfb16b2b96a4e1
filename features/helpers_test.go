package features

import (
	"os"
	"strconv"
	"testing"

	"lab/harness/netnsprov"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// cellOptions prepares a run on the netns provider with profiles from
// images; the run's state is removed when the test ends.
func cellOptions(t testing.TB, images string) *runner.Options {
	t.Helper()
	plugins, hidext := testenv.Prereqs(t)
	run, err := runner.NewRun()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	return &runner.Options{Provider: netnsprov.New(), ProfilesDir: images, PluginDir: plugins, KubeProxyDir: testenv.KubeProxy(t, testenv.KubeProxyVersions...), HidextLib: hidext, Run: run}
}

func itoa(n int) string { return strconv.Itoa(n) }

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
