// Command osmtrack is the one binary of the osmtrack pipeline. Each subcommand is one step or
// tool; this package only wires flags and configuration to the library under etl/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/step"
)

// Exit codes.
const (
	exitOK      = 0 // done, nothing to do, or another run holds the lock
	exitFailure = 1 // runtime failure: retry
	exitUsage   = 2 // usage or configuration error: do not retry
)

// command is one subcommand. Files in this package register theirs in init.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error // the command writes only to stdout and stderr
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError makes the process exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errHelp is returned when -h/--help was asked for: exit 0.
var errHelp = errors.New("help requested")

// helpError is errHelp with the usage to print on stdout.
type helpError struct{ usage string }

func (e *helpError) Error() string        { return errHelp.Error() }
func (e *helpError) Is(target error) bool { return target == errHelp }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return exitCode(c.run(ctx, []string{"--help"}, stdout, stderr), stdout, stderr)
			}
		}
		printUsage(stdout)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		if strings.HasPrefix(name, "-") {
			fmt.Fprintf(stderr, "osmtrack: %s before a command; usage: osmtrack COMMAND [flags]; run 'osmtrack help' for the commands\n", name)
		} else if near := closest(name, names, 3); len(near) > 0 {
			fmt.Fprintf(stderr, "osmtrack: unknown command %q (did you mean %s?); run 'osmtrack help' for the commands\n", name, quoteAll(near))
		} else {
			fmt.Fprintf(stderr, "osmtrack: unknown command %q; run 'osmtrack help' for the commands\n", name)
		}
		return exitUsage
	}
	return exitCode(c.run(ctx, args[1:], stdout, stderr), stdout, stderr)
}

func exitCode(err error, stdout, stderr io.Writer) int {
	var ue *usageError
	var ce *config.Error
	var he *helpError
	if errors.As(err, &he) {
		fmt.Fprint(stdout, he.usage)
	}
	switch {
	case err == nil, errors.Is(err, errHelp), errors.Is(err, step.ErrLocked):
		return exitOK
	case errors.As(err, &ue):
		if strings.HasPrefix(ue.msg, "osmtrack ") || strings.HasPrefix(ue.msg, "usage: ") {
			fmt.Fprintln(stderr, err) // already names the command
		} else {
			fmt.Fprintf(stderr, "osmtrack: %v\n", err)
		}
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "osmtrack: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "osmtrack: %v\n", err)
		return exitFailure
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: osmtrack COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'osmtrack COMMAND --help' for a command's flags. Every flag can also be set from")
	fmt.Fprintln(w, "the environment as OSMTRACK_<COMMAND>_<FLAG> (fetch --from-seq as OSMTRACK_FETCH_FROM_SEQ),")
	fmt.Fprintln(w, "except restore's --force.")
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " or ")
}
