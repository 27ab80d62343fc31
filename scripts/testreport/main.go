// Command testreport turns the output of `go test -json` (and of other checks) into what a
// person and CI want to read: one line per package as it finishes with its pass, fail and skip
// counts and seconds, the output of failing tests only, a summary, and as the very last line
// `N passed, N failed, N skipped`. It exits 1 when anything failed.
//
// Input is read from stdin: `go test -json` events, plain lines (printed as they are: go vet's
// findings, build errors) and marker lines `##exit CODE LABEL` that scripts/test.sh writes after
// each command; a non-zero CODE counts as one failure when that command's output showed none
// (go vet, a build failure, a crash before any test reported).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string
}

type pkgState struct {
	passed, failed, skipped int
	output                  map[string][]string // test ("" for the package) → output lines
	failedTests             []string
	skips                   []string
}

type report struct {
	out                     io.Writer
	pkgs                    map[string]*pkgState
	build                   map[string][]string // import path → build output
	passed, failed, skipped int
	failures                []string // "pkg TestName" or a command
	skips                   []string
	failedSinceMarker       bool
	modulePrefix            string
}

func newReport(out io.Writer, modulePrefix string) *report {
	return &report{out: out, pkgs: map[string]*pkgState{}, build: map[string][]string{}, modulePrefix: modulePrefix}
}

func (r *report) pkg(name string) *pkgState {
	p := r.pkgs[name]
	if p == nil {
		p = &pkgState{output: map[string][]string{}}
		r.pkgs[name] = p
	}
	return p
}

func (r *report) short(pkg string) string {
	if r.modulePrefix != "" {
		if s, ok := strings.CutPrefix(pkg, r.modulePrefix+"/"); ok {
			return s
		}
	}
	return pkg
}

// line handles one input line.
func (r *report) line(s string) {
	if rest, ok := strings.CutPrefix(s, "##exit "); ok {
		code, label, _ := strings.Cut(rest, " ")
		if c, err := strconv.Atoi(code); err == nil && c != 0 && !r.failedSinceMarker {
			r.failed++
			r.failures = append(r.failures, fmt.Sprintf("%s (exit %d)", label, c))
			fmt.Fprintf(r.out, "FAIL  %s (exit %d)\n", label, c)
		}
		r.failedSinceMarker = false
		return
	}
	var e event
	if !strings.HasPrefix(s, "{") || json.Unmarshal([]byte(s), &e) != nil || e.Action == "" {
		fmt.Fprintln(r.out, s)
		return
	}
	switch e.Action {
	case "build-output":
		r.build[e.ImportPath] = append(r.build[e.ImportPath], e.Output)
		return
	case "build-fail":
		return
	}
	p := r.pkg(e.Package)
	switch e.Action {
	case "output":
		if strings.HasPrefix(e.Output, "=== ") { // RUN, PAUSE, CONT, NAME
			return
		}
		p.output[e.Test] = append(p.output[e.Test], e.Output)
	case "pass", "fail", "skip":
		if e.Test != "" {
			r.testDone(p, e)
			return
		}
		r.pkgDone(e.Package, p, e)
	}
}

func (r *report) testDone(p *pkgState, e event) {
	top := !strings.Contains(e.Test, "/")
	switch e.Action {
	case "pass":
		if top {
			p.passed++
		}
		delete(p.output, e.Test)
	case "skip":
		if top {
			p.skipped++
			p.skips = append(p.skips, e.Test+": "+skipReason(p.output[e.Test]))
		}
		delete(p.output, e.Test)
	case "fail":
		if top {
			p.failed++
		}
		p.failedTests = append(p.failedTests, e.Test)
	}
}

// skipReason is the message of t.Skip: the last output line before "--- SKIP".
func skipReason(lines []string) string {
	reason := ""
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		reason = l
	}
	if reason == "" {
		return "(no reason given)"
	}
	return reason
}

func (r *report) pkgDone(name string, p *pkgState, e event) {
	short := r.short(name)
	if e.Action == "skip" && p.passed+p.failed+p.skipped == 0 {
		return // no test files
	}
	status := "ok   "
	if e.Action == "fail" {
		status = "FAIL "
	}
	fmt.Fprintf(r.out, "%s %-28s %4d passed %3d failed %3d skipped %7.1fs\n", status, short, p.passed, p.failed, p.skipped, e.Elapsed)
	r.passed += p.passed
	r.skipped += p.skipped
	for _, s := range p.skips {
		r.skips = append(r.skips, short+" "+s)
	}
	if e.Action != "fail" {
		return
	}
	r.failedSinceMarker = true
	// A failing test's output (subtests first, as they failed), then what the package printed
	// outside tests (a panic, a timeout, TestMain) and its build errors.
	for _, t := range p.failedTests {
		r.printBlock("--- "+short+" "+t, p.output[t])
		if !strings.Contains(t, "/") {
			r.failures = append(r.failures, short+" "+t)
		}
	}
	failed := p.failed
	if b := r.build[e.FailedBuild]; e.FailedBuild != "" && len(b) > 0 {
		r.printBlock("--- "+short+" does not build", b)
	} else if pkgOut := meaningful(p.output[""]); len(pkgOut) > 0 && (failed == 0 || hasPanic(pkgOut)) {
		r.printBlock("--- "+short+" (outside any test)", pkgOut)
	}
	if failed == 0 { // a build failure, a crash or a timeout outside the tests: one failure
		failed = 1
		r.failures = append(r.failures, short+" (package)")
	}
	r.failed += failed
}

// meaningful drops the package's closing lines that repeat the status.
func meaningful(lines []string) []string {
	var out []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "FAIL" || t == "PASS" || strings.HasPrefix(t, "FAIL\t") || strings.HasPrefix(t, "ok  \t") || strings.HasPrefix(t, "coverage:") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func hasPanic(lines []string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.Contains(l, "test timed out") {
			return true
		}
	}
	return false
}

func (r *report) printBlock(title string, lines []string) {
	fmt.Fprintln(r.out, title)
	for _, l := range lines {
		fmt.Fprint(r.out, "    ", strings.TrimRight(l, "\n"), "\n")
	}
}

// finish prints the summary; the last line is the counts.
func (r *report) finish(elapsed time.Duration) {
	// packages that started but never finished (the stream was cut): their tests count as failed
	names := make([]string, 0, len(r.pkgs))
	for n := range r.pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(r.out)
	if len(r.skips) > 0 {
		fmt.Fprintf(r.out, "skipped (%d):\n", len(r.skips))
		for _, s := range r.skips {
			fmt.Fprintf(r.out, "  %s\n", s)
		}
	}
	if len(r.failures) > 0 {
		fmt.Fprintf(r.out, "failed (%d):\n", len(r.failures))
		for _, f := range r.failures {
			fmt.Fprintf(r.out, "  %s\n", f)
		}
	}
	if elapsed > 0 {
		fmt.Fprintf(r.out, "took %s\n", elapsed.Round(time.Second))
	}
	fmt.Fprintf(r.out, "%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
}

func main() {
	start := time.Now()
	module := ""
	if len(os.Args) > 1 {
		module = os.Args[1]
	}
	r := newReport(os.Stdout, module)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		r.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stdout, "testreport: reading the test output: %v\n", err)
		r.failed++
	}
	r.finish(time.Since(start))
	if r.failed > 0 {
		os.Exit(1)
	}
}
