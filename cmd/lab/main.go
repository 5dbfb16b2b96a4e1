// Command lab replays reported MicroK8s networking failures against the real
// kernel and real components and publishes a compatibility matrix
// (failures x environments) as HTML, JSON and JUnit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"lab/harness/agent"
)

// exit codes
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// usageError is bad usage or bad input: exit 2 with a one-line message.
type usageError struct {
	msg string
	// lines, when set, are reported one per line after msg (every
	// problem `lab check` found), each escaped and capped like msg.
	lines []string
}

func (e *usageError) Error() string {
	if len(e.lines) == 0 {
		return e.msg
	}
	return e.msg + "\n" + strings.Join(e.lines, "\n")
}

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// failedError means the run completed but a cell failed or errored: exit 1.
type failedError struct{ msg string }

func (e *failedError) Error() string { return e.msg }

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// creates is set for commands that create namespaces or state: a stop
	// signal lets them tear down; the others exit at once.
	creates bool
}

func commands() []command {
	return []command{
		{"list", "", "list features (scenarios), their cells, and profiles", cmdList, false},
		{"steps", "", "print the step vocabulary features are written with", cmdSteps, false},
		{"check", "[TARGET...]", "check features and profiles (steps, parameters, placeholders, profile fields) without booting", cmdCheck, false},
		{"run", "TARGET...", "run the cells of scenarios (feature base names) or .feature files", cmdRun, true},
		{"matrix", "", "run every feature x profile (the whole matrix)", cmdMatrix, true},
		{"nightly", "", "unattended: matrix with a deadline, retention, atomic site publish", cmdNightly, true},
		{"report", "", "render the HTML matrix, JSON and JUnit from stored results", cmdReport, false},
		{"shell", "CELL NODE", "open a shell in a node of a cell kept with --keep", cmdShell, true},
		{"clean", "", "remove what crashed runs left behind (--kept: kept cells too)", cmdClean, true},
		{"images", "SUBCMD", "build, list or remove node images (recipes in images/recipes/)", cmdImages, true},
		{"inspect", "", "report iptables variants, FORWARD policies, Felix backend and kernel extensions (host or --node)", cmdInspect, true},
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `lab: a reproducible regression lab for MicroK8s networking failures.

Each reported failure is a feature file (features/*.feature); each Examples
row names an environment profile (images/*.yaml). lab boots throwaway nodes,
replays the failure with the real kernel and components, and records whether
the failure is present.

Usage: lab COMMAND [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %-10s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprint(w, `
Run 'lab COMMAND -h' for a command's flags. Exit status: 0 every cell met its
expectations, 1 a cell failed or errored, 2 bad usage or input.
`)
}

func main() {
	// `lab agent` is internal: the lab pushes itself into nodes and runs
	// this there, speaking JSON lines on stdin/stdout (harness/agent).
	agent.MaybeMain()
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(agent.Main())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	// A closed stdout (lab ... | head) must not kill lab before teardown.
	signal.Ignore(syscall.SIGPIPE)
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, _, stop := withInterrupts(context.Background(), stderr, c.creates)
		defer stop()
		err := c.run(ctx, args[1:], stdout, stderr)
		var ue *usageError
		var fe *failedError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "lab %s: %s\n", c.name, oneLine(ue.msg))
			for _, l := range ue.lines {
				fmt.Fprintf(stderr, "  %s\n", oneLine(l))
			}
			return exitUsage
		case errors.As(err, &fe):
			fmt.Fprintf(stderr, "lab %s: %s\n", c.name, terminalSafe(err.Error(), true))
			return exitFailed
		default:
			fmt.Fprintf(stderr, "lab %s: %s\n", c.name, terminalSafe(err.Error(), true))
			return exitFailed
		}
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	fmt.Fprintf(stderr, "lab: unknown command %q; commands: %s (see lab --help)\n", args[0], strings.Join(names, ", "))
	return exitUsage
}

// parse parses flags that may appear before, between or after positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var rest []string // after "--": positional, verbatim
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stdout)
				fs.Usage()
				return nil, err
			}
			return nil, usagef("%v (see lab %s -h)", err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// multiFlag is a repeatable string flag that also accepts comma lists.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
