package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"lab/harness/execx"
	"lab/harness/locate"
)

// agentBuild builds the static agent once per test process.
type agentBuild struct {
	once sync.Once
	path string
	err  error
}

// agents is per process and written once: tests of one package share the
// build (not test state).
var agents agentBuild

// StaticAgent returns a static lab executable (CGO_ENABLED=0) to push into
// nodes whose userspace is not the host's (runner.Options.AgentExe,
// sim.Options.AgentExe): a test binary is linked against the host's glibc.
// It is built once per test process into the repository's bin/.
func StaticAgent(t testing.TB) string {
	t.Helper()
	agents.once.Do(func() {
		root, err := locate.Root()
		if err != nil {
			agents.err = err
			return
		}
		dst := filepath.Join(root, "bin", "lab-agent-static")
		tmp := fmt.Sprintf("%s.%d", dst, os.Getpid())
		env := append(os.Environ(), "CGO_ENABLED=0")
		_, err = execx.Host{}.Run(context.Background(), execx.Cmd{Argv: []string{"go", "-C", root, "build", "-o", tmp, "./cmd/lab"}, Env: env})
		if err == nil {
			err = os.Rename(tmp, dst)
		}
		agents.path, agents.err = dst, err
	})
	if agents.err != nil {
		t.Fatalf("build the static agent: %v", agents.err)
	}
	return agents.path
}
