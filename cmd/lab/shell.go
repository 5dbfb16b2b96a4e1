package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"lab/harness/execx"
	"lab/harness/runner"
)

// cmdShell opens a shell inside a node of a cell kept with --keep, with the
// environment lab ran commands with there (the profile's iptables variant
// first in PATH, the kernel profile's hidden extensions).
func cmdShell(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shell", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: lab shell CELL NODE [-- COMMAND...]\n\nOpens a shell (or runs COMMAND) in NODE of a cell kept by `lab run --keep`.\nPod servers ran inside lab and are gone; namespaces, rules and daemons stay\nuntil `lab clean --kept`.\n")
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("want CELL and NODE; a run with --keep prints them for each failed cell")
	}
	k, err := runner.LoadKept(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	if !slices.Contains(k.Nodes, pos[1]) {
		return usagef("cell %s has no node %q; nodes: %s", k.Cell, pos[1], strings.Join(k.Nodes, ", "))
	}
	prov, err := providerByName(k.Provider)
	if err != nil {
		return err
	}
	cmd := pos[2:]
	if len(cmd) == 0 {
		cmd = []string{"/bin/bash"}
	}
	r, err := runner.Enter(ctx, prov, k.Prefix, pos[1], append(append([]string(nil), k.Env[pos[1]]...), "TERM="+os.Getenv("TERM"), "PS1=[lab "+pos[1]+"] \\w# "))
	if err != nil {
		return fmt.Errorf("enter %s of %s: %w", pos[1], k.Cell, err)
	}
	fmt.Fprintf(stderr, "entering %s of %s (provider %s)\n", pos[1], k.Cell, k.Provider)
	return execx.Replace(r.Argv(cmd), os.Environ())
}
