package sim

import (
	"context"
	"errors"
	"strings"
	"testing"

	"lab/harness/execx"
)

// TestRunThroughAgentMatchesProvider runs the same commands on a booted
// kernel-profile node through the provider (nsenter) and through the
// node's agent (Node.Run): same output, exit status, error text and
// namespaces, and the profile's LD_PRELOAD reaches the command.
func TestRunThroughAgentMatchesProvider(t *testing.T) {
	c := newCluster(t, "microk8s-1.29-wsl2-stock")
	ctx := context.Background()
	n, err := c.AddNode(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if n.Agent == nil {
		t.Fatal("node1 has no agent after boot")
	}
	cases := []execx.Cmd{
		{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}},
		{Argv: []string{"cat"}, Stdin: []byte("in\n")},
		{Argv: []string{"readlink", "/proc/self/ns/pid", "/proc/self/ns/mnt", "/proc/self/ns/net", "/proc/self/ns/uts"}},
		{Argv: []string{"sh", "-c", "echo $PATH $LD_PRELOAD; grep -c libhidext /proc/self/maps"}},
		{Argv: []string{"no-such-program-lab"}},
	}
	for _, cmd := range cases {
		viaProvider := cmd
		viaProvider.Env = n.Env
		pres, perr := n.Node.Run(ctx, viaProvider)
		ares, aerr := n.Run(ctx, cmd)
		name := execx.Quote(cmd.Argv)
		t.Logf("%s: agent %q %q %v", name, ares.Stdout, ares.Stderr, aerr)
		var pe, ae *execx.Error
		if errors.As(perr, &pe) != errors.As(aerr, &ae) || (perr == nil) != (aerr == nil) {
			t.Errorf("%s: provider error %v, agent error %v", name, perr, aerr)
			continue
		}
		if pe != nil {
			if pe.ExitCode != ae.ExitCode || strings.Join(pe.Argv, " ") != strings.Join(ae.Argv, " ") {
				t.Errorf("%s: provider %d %q, agent %d %q", name, pe.ExitCode, pe.Argv, ae.ExitCode, ae.Argv)
			}
			if pe.ExitCode == 127 {
				continue // the executor's own message differs (nsenter, lab agent)
			}
			if pe.Error() != ae.Error() || pe.Stdout != ae.Stdout || pe.Stderr != ae.Stderr {
				t.Errorf("%s: provider error %q, agent error %q", name, pe.Error(), ae.Error())
			}
		}
		if string(pres.Stdout) != string(ares.Stdout) || string(pres.Stderr) != string(ares.Stderr) {
			t.Errorf("%s: provider printed %q/%q, agent %q/%q", name, pres.Stdout, pres.Stderr, ares.Stdout, ares.Stderr)
		}
		if strings.Contains(name, "libhidext") && !strings.Contains(string(ares.Stdout), "/run/lab/libhidext.so\n") ||
			strings.Contains(name, "libhidext") && strings.HasSuffix(string(ares.Stdout), "\n0\n") {
			t.Errorf("%s: the kernel profile's library is not preloaded in the command: %q", name, ares.Stdout)
		}
	}
}
