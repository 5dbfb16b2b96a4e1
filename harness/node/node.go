// Package node defines what a provider gives the lab for one booted machine
// of a cell (a MicroK8s node, a client, a gateway): run a command, start a
// long-running one with pipes, copy a file in, a name. It is kind's
// `Node = Cmder` idea: drivers and the agent work with any provider through
// these primitives only, never through a host namespace path.
package node

import (
	"context"
	"io"
	"os"

	"lab/harness/execx"
)

// Node is one booted machine. Commands run as root inside the node, with
// the node's own userspace, mounts, PIDs and network.
type Node interface {
	// Name is the node's name in the feature (e.g. node1).
	Name() string
	// Run runs a command in the node and waits for it (buffered output).
	Run(ctx context.Context, c execx.Cmd) (execx.Result, error)
	// Start starts a long-running command in the node with its standard
	// input and output connected to the returned Stream; its standard error
	// goes to stderr (nil discards it).
	Start(ctx context.Context, c execx.Cmd, stderr io.Writer) (Stream, error)
	// CopyIn copies the host file src to dst inside the node with mode,
	// creating dst's directory.
	CopyIn(ctx context.Context, src, dst string, mode os.FileMode) error
}

// Describer is implemented by nodes that can say what they booted from (a
// node image and its fingerprint); the driver records it with the facts
// read inside the node.
type Describer interface {
	Describe() map[string]string
}

// Stream is a command started by Node.Start.
type Stream interface {
	// Stdin is the command's standard input; closing it signals EOF.
	Stdin() io.WriteCloser
	// Stdout is the command's standard output.
	Stdout() io.Reader
	// Wait waits for the command to end.
	Wait() error
	// Kill ends the command (and what it started in its process group on
	// this machine) and waits for it.
	Kill() error
}
