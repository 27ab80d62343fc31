package manifest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/osmtrack/osmtrack/etl/config"
)

// Binary asks an osmtrack binary what it accepts: its subcommands (`osmtrack help`) and each
// subcommand's flags (`osmtrack CMD [WORDS] --help`, the flag package's usage).
type Binary struct {
	Path  string
	cmds  map[string]bool
	flags map[string]map[string]bool // "backup postgis" → flag name → is boolean
}

// NewBinary lists the subcommands of the binary at path.
func NewBinary(ctx context.Context, path string) (*Binary, error) {
	out, _, err := run(ctx, path, "help")
	if err != nil {
		return nil, err
	}
	b := &Binary{Path: path, cmds: map[string]bool{}, flags: map[string]map[string]bool{}}
	inList := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "commands:") {
			inList = true
			continue
		}
		if inList {
			if !strings.HasPrefix(line, "  ") {
				if strings.TrimSpace(line) == "" && len(b.cmds) > 0 {
					break
				}
				continue
			}
			if f := strings.Fields(line); len(f) > 0 {
				b.cmds[f[0]] = true
			}
		}
	}
	if len(b.cmds) == 0 {
		return nil, fmt.Errorf("%s help: no commands listed in %q", path, out)
	}
	return b, nil
}

// Has reports whether cmd is a subcommand.
func (b *Binary) Has(cmd string) bool { return b.cmds[cmd] }

func run(ctx context.Context, path string, args ...string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"} // no OSMTRACK_* from the test's environment
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		err = nil
	}
	if err != nil {
		return nil, -1, fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
	}
	return out.Bytes(), code, nil
}

// flagLine is a line of flag.PrintDefaults: "  -name type" or "  -name" (a boolean).
var flagLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_.-]*)(?:[ \t]+([A-Za-z0-9_]+))?`)

// Flags returns the flags of `osmtrack CMD WORDS…` (name → boolean), read from its --help.
func (b *Binary) Flags(ctx context.Context, words []string) (map[string]bool, error) {
	key := strings.Join(words, " ")
	if f, ok := b.flags[key]; ok {
		return f, nil
	}
	out, code, err := run(ctx, b.Path, append(append([]string{}, words...), "--help")...)
	if err != nil {
		return nil, err
	}
	if code != 0 || !bytes.Contains(out, []byte("usage:")) {
		return nil, fmt.Errorf("osmtrack %s --help: exit %d: %s", key, code, firstLines(out, 3))
	}
	flags := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := flagLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		// A single-letter flag's usage follows on the same line after a tab; its type word
		// then is usage text. Names longer than one letter put usage on the next line.
		isBool := m[2] == ""
		if len(m[1]) == 1 && strings.Contains(sc.Text(), "\t") {
			isBool = !strings.Contains(strings.SplitN(sc.Text(), "\t", 2)[0], " ")
		}
		flags[m[1]] = isBool
	}
	b.flags[key] = flags
	return flags, nil
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(strings.TrimSpace(string(b)), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " / ")
}

// SplitArgs splits a container's args into the subcommand words (the command and the
// positional words before the first flag, such as "backup postgis") and the flags.
func SplitArgs(args []string) (words, flags []string) {
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			return args[:i], args[i:]
		}
	}
	return args, nil
}

// configEnv are the environment variables the configuration reads (not flags).
var configEnv = map[string]bool{
	config.EnvConfig: true, config.EnvDatabaseURL: true, config.EnvInfluxURL: true,
	config.EnvInfluxToken: true, config.EnvInfluxReadToken: true, config.EnvInfluxBucket: true, config.EnvInfluxOrg: true,
}

// EnvFlagName turns OSMTRACK_FETCH_FROM_SEQ into from-seq for the command words [fetch]: a
// variable names its command (OSMTRACK_<COMMAND>_<FLAG>, words joined by "_"). It returns ""
// when env does not name that command.
func EnvFlagName(words []string, env string) string {
	prefix := "OSMTRACK_" + strings.ToUpper(strings.NewReplacer("-", "_").Replace(strings.Join(words, "_"))) + "_"
	if !strings.HasPrefix(env, prefix) {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, prefix), "_", "-"))
}

// CheckArgs runs the binary's own parsers over every osmtrack container in the build: the
// first arg is a real subcommand, every flag given (in args, or as OSMTRACK_<COMMAND>_<FLAG> in the
// environment) is one the subcommand accepts, and non-boolean flags have a value.
func CheckArgs(ctx context.Context, b *Build, bin *Binary) []Problem {
	var probs []Problem
	add := func(obj, format string, args ...any) {
		probs = append(probs, Problem{obj, fmt.Sprintf(format, args...)})
	}
	for _, pt := range b.PodTemplates() {
		for i := range pt.Spec.Containers {
			ct := &pt.Spec.Containers[i]
			if !IsOsmtrack(ct) {
				continue
			}
			where := pt.Owner + " container " + ct.Name
			if len(ct.Args) == 0 {
				add(where, "no args")
				continue
			}
			if !bin.Has(ct.Args[0]) {
				add(where, "%q is not an osmtrack subcommand", ct.Args[0])
				continue
			}
			words, flagArgs := SplitArgs(ct.Args)
			known, err := bin.Flags(ctx, words)
			if err != nil {
				add(where, "%v", err)
				continue
			}
			for j := 0; j < len(flagArgs); j++ {
				a := flagArgs[j]
				if a == "--" {
					break
				}
				if !strings.HasPrefix(a, "-") {
					add(where, "argument %q after the flags: the flag package stops parsing there", a)
					continue
				}
				name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
				isBool, ok := known[name]
				if !ok {
					add(where, "osmtrack %s has no flag --%s", strings.Join(words, " "), name)
					continue
				}
				if !isBool && !hasValue {
					if j+1 >= len(flagArgs) {
						add(where, "flag --%s needs a value", name)
					}
					j++
				}
			}
			for _, e := range containerEnvNames(b, ct) {
				if !strings.HasPrefix(e, "OSMTRACK_") || configEnv[e] {
					continue
				}
				if _, ok := known[EnvFlagName(words, e)]; !ok {
					add(where, "env %s is neither a configuration variable nor a flag of osmtrack %s", e, strings.Join(words, " "))
				}
			}
		}
	}
	return probs
}

// containerEnvNames lists the environment variable names a container gets.
func containerEnvNames(b *Build, ct *corev1.Container) []string {
	var names []string
	for _, e := range ct.Env {
		names = append(names, e.Name)
	}
	for _, ef := range ct.EnvFrom {
		if ef.ConfigMapRef != nil {
			if cm := b.ConfigMap(ef.ConfigMapRef.Name); cm != nil {
				for k := range cm.Data {
					names = append(names, ef.Prefix+k)
				}
			}
		}
	}
	return names
}
