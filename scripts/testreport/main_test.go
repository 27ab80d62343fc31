package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// sample.jsonl is real `go test -json` output of a module with a passing, a failing (in a
// subtest), a skipped, a panicking test and a package that does not build.
func TestReport(t *testing.T) {
	f, err := os.Open("testdata/sample.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	r := newReport(&out, "example.com/m")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r.line(sc.Text())
	}
	r.line("##exit 1 go test ./...") // already counted by the failures above
	r.line("jobs/x.go:3:2: unreachable code")
	r.line("##exit 1 go vet ./...")
	r.line("##exit 0 go test -fuzz FuzzX")
	r.finish(0)
	got := out.String()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if last := lines[len(lines)-1]; last != "1 passed, 4 failed, 1 skipped" {
		t.Errorf("last line %q, want %q\n%s", last, "1 passed, 4 failed, 1 skipped", got)
	}
	for _, want := range []string{
		"FAIL  a ", "1 passed   1 failed   1 skipped",
		"count = 1, want 2",                        // the failing subtest's message
		"some log",                                 // the failing test's log
		"b does not build", "undefined: undefined", // the build error
		"panic: assignment to entry in nil map", // the panic
		"jobs/x.go:3:2: unreachable code",       // a plain line, as it is
		"go vet ./... (exit 1)",
		"a TestSkip: a_test.go:5: no database", // the skip reason
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"quiet", "=== RUN", "go test ./... (exit 1)", "FuzzX"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("report has %q (a passing test's log, a progress line or an exit already counted):\n%s", unwanted, got)
		}
	}
}
