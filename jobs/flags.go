package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// flags is a subcommand's flag set: errors are usage errors, --help prints usage, and every
// flag not given on the command line is read from OSMTRACK_<FLAG> when that is set (a Job
// created from a CronJob copies its args, so backfill ranges come from the environment).
type flags struct {
	*flag.FlagSet
	usage string
}

func newFlags(name, usage string) *flags {
	fs := flag.NewFlagSet("osmtrack "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, usage: usage}
}

// parse parses args; it returns errHelp after printing usage for -h/--help.
func (f *flags) parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.printUsage(os.Stdout)
			return errHelp
		}
		return f.explain(err)
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var err error
	f.VisitAll(func(fl *flag.Flag) {
		if set[fl.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(fl.Name)); ok && v != "" {
			if e := fl.Value.Set(v); e != nil {
				err = usagef("%s: %s=%q: %v", f.Name(), envName(fl.Name), v, e)
			}
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
		fmt.Fprintf(w, "\nflags (each also from OSMTRACK_<FLAG>):\n%s", b.String())
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
