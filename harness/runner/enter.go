package runner

import (
	"context"

	"lab/harness/execx"
	"lab/harness/provider"
)

// NodeRunner runs commands inside a node of a running or kept cell, as the
// provider enters it (Provider.Shell), with the environment lab ran
// commands with there. It is how `lab shell` and `lab inspect --node` reach
// a node on any provider.
type NodeRunner struct {
	// Enter is the provider's command prefix for the node.
	Enter []string
	// Env is the node's environment (set inside the node with env -i).
	Env []string
}

// Enter returns a NodeRunner for node name of the cell with prefix.
func Enter(ctx context.Context, p provider.Provider, prefix, name string, env []string) (NodeRunner, error) {
	argv, err := p.Shell(ctx, prefix, name)
	if err != nil {
		return NodeRunner{}, err
	}
	return NodeRunner{Enter: argv, Env: env}, nil
}

// Argv returns the host command line that runs argv in the node.
func (r NodeRunner) Argv(argv []string) []string {
	out := append([]string(nil), r.Enter...)
	if len(r.Env) > 0 {
		out = append(append(append(out, "env", "-i"), r.Env...), argv...)
		return out
	}
	return append(out, argv...)
}

// Run runs c in the node.
func (r NodeRunner) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	env := r.Env
	if c.Env != nil {
		env = c.Env
	}
	res, err := execx.Host{}.Run(ctx, execx.Cmd{Argv: NodeRunner{Enter: r.Enter, Env: env}.Argv(c.Argv), Stdin: c.Stdin})
	if ee, ok := err.(*execx.Error); ok {
		ee.Argv = c.Argv
	}
	return res, err
}
