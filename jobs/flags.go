package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/osmtrack/osmtrack/etl/config"
)

// flags is a subcommand's flag set: errors are usage errors, --help prints usage, and every
// flag not given on the command line is read from OSMTRACK_<COMMAND>_<FLAG> when that is set
// (a Job created from a CronJob copies its args, so backfill ranges come from the
// environment). The variable names the command, so that one command's variable never sets
// another command's flag (OSMTRACK_FETCH_FORCE is fetch's --force and nothing else).
type flags struct {
	*flag.FlagSet
	usage string
	cmd   string          // "fetch", "rules test", …
	noEnv map[string]bool // flags only the command line may set
}

func newFlags(name, usage string) *flags {
	fs := flag.NewFlagSet("osmtrack "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, usage: usage, cmd: name, noEnv: map[string]bool{}}
}

// commandLineOnly marks flags the environment must never set (restore's --force: a variable
// left in a shell or a manifest must not replace a database).
func (f *flags) commandLineOnly(names ...string) {
	for _, n := range names {
		f.noEnv[n] = true
	}
}

// configEnv are the variables the configuration reads; a flag's old flat name that equals
// one of them (--config and OSMTRACK_CONFIG) is not an old flag variable.
var configEnv = map[string]bool{
	config.EnvConfig: true, config.EnvDatabaseURL: true, config.EnvInfluxURL: true,
	config.EnvInfluxToken: true, config.EnvInfluxBucket: true, config.EnvInfluxOrg: true,
}

// parse parses args; for -h/--help it returns a *helpError (errHelp) holding the usage, which main prints on stdout.
func (f *flags) parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var b strings.Builder
			f.printUsage(&b)
			return &helpError{usage: b.String()}
		}
		return f.explain(err)
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var err error
	f.VisitAll(func(fl *flag.Flag) {
		if err != nil {
			return
		}
		name := envName(f.cmd, fl.Name)
		old := flatEnvName(fl.Name)
		if v, ok := os.LookupEnv(old); ok && v != "" && !configEnv[old] && old != name {
			if f.noEnv[fl.Name] {
				err = usagef("%s: %s is no longer read: give --%s on the command line (the environment never sets it)", f.cmd, old, fl.Name)
			} else {
				err = usagef("%s: %s is no longer read: set %s (variables name their command)", f.cmd, old, name)
			}
			return
		}
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return
		}
		if f.noEnv[fl.Name] {
			err = usagef("%s: %s is not read: give --%s on the command line (the environment never sets it)", f.cmd, name, fl.Name)
			return
		}
		if set[fl.Name] {
			return
		}
		if e := fl.Value.Set(v); e != nil {
			err = usagef("%s: %s=%q: %v", f.Name(), name, v, e)
		}
	})
	return err
}

func (f *flags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n", f.usage)
	var b strings.Builder
	f.SetOutput(&b)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nflags (each also from %s<FLAG>", envName(f.cmd, ""))
		if len(f.noEnv) > 0 {
			var only []string
			for n := range f.noEnv {
				only = append(only, "--"+n)
			}
			fmt.Fprintf(w, ", except %s", strings.Join(only, ", "))
		}
		fmt.Fprintf(w, "):\n%s", b.String())
	}
}

// noArgs rejects positional arguments.
func (f *flags) noArgs() error {
	if f.NArg() > 0 {
		return usagef("%s: unexpected argument %q; run '%s --help'", f.Name(), f.Arg(0), f.Name())
	}
	return nil
}

// explain turns a parse error of the flag package into one line naming the flag, the close
// matches among the command's flags and where its help is.
func (f *flags) explain(err error) error {
	msg := err.Error()
	help := fmt.Sprintf("run '%s --help'", f.Name())
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		f.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
		if near := closest(name, names, 3); len(near) > 0 {
			for i, n := range near {
				near[i] = "--" + n
			}
			return usagef("%s: unknown flag --%s (did you mean %s?); %s", f.Name(), name, strings.Join(near, " or "), help)
		}
		return usagef("%s: unknown flag --%s; %s", f.Name(), name, help)
	}
	msg = strings.Replace(msg, "for flag -", "for flag --", 1)
	return usagef("%s: %s; %s", f.Name(), msg, help)
}

// envName is the environment variable that stands in for flag of command cmd:
// OSMTRACK_FETCH_FROM_SEQ for fetch --from-seq, OSMTRACK_RULES_TEST_CHANGESETS for rules
// test --changesets.
func envName(cmd, flag string) string {
	return "OSMTRACK_" + envWord(cmd) + "_" + envWord(flag)
}

// flatEnvName is the old, command-less form (OSMTRACK_FROM_SEQ), now refused.
func flatEnvName(flag string) string { return "OSMTRACK_" + envWord(flag) }

func envWord(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", " ", "_").Replace(s))
}
