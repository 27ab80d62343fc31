package fetch

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// TestPeakRSS runs the real binary (`osmtrack fetch`) against a feed serving hostile and huge
// diffs and reads its peak resident set size from the kernel (getrusage of the child). In CI it
// runs the small cases; OSMTRACK_TEST_RSS_BIG=1 adds a 1 MiB gzip bomb (1 GiB of white space)
// and a 200 MB valid diff, the figures docs/config.md quotes. Inputs are generated on the fly.
func TestPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	type tc struct {
		name   string
		gz     func() []byte
		ok     bool   // the diff is applied (else refused with exit 1)
		cause  string // in the error when refused
		maxRSS int64  // bytes
	}
	cases := []tc{
		// The case: 255 KiB of gzipped white space took fetch past 1 GiB.
		{"gzip bomb 262 MiB", func() []byte { return gzipped(whitespace(262 << 20)) }, false, "more than 268435456 bytes uncompressed", 128 << 20},
		{"valid 20 MB diff", func() []byte { return gzipped(bigOsmChange(20 << 20)) }, true, "", 256 << 20},
	}
	if os.Getenv("OSMTRACK_TEST_RSS_BIG") != "" {
		cases = append(cases,
			tc{"gzip bomb 1 GiB", func() []byte { return gzipped(whitespace(1 << 30)) }, false, "more than 268435456 bytes uncompressed", 128 << 20},
			tc{"valid 200 MB diff", func() []byte { return gzipped(bigOsmChange(200 << 20)) }, true, "", 1 << 30},
		)
	}
	bin := osmtrackBinary(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			feed := newTestFeed(t)
			body := c.gz()
			feed.addRaw(101, body, baseTime.Add(101*time.Minute))
			d := dbtest.PG(t)
			cfg := filepath.Join(t.TempDir(), "osmtrack.yaml")
			os.WriteFile(cfg, []byte(fmt.Sprintf("osm:\n  replication_url: %s/replication/minute/\n  retries: 0\nregions:\n  berlin:\n    file: %s\nfetch:\n  start: \"101\"\n",
				feed.srv.URL, mustAbsPath(t, filepath.Join(testdata, "poly/berlin.poly")))), 0o644)
			cmd := command(bin, cfg, d.URL, nil)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			watch := watchPeakRSS(cmd.Process.Pid, bin)
			err := cmd.Wait()
			rss := watch()
			t.Logf("%s (%d bytes gzipped): exit %d in %s, peak RSS %.1f MiB", c.name, len(body), cmd.ProcessState.ExitCode(),
				time.Since(start).Round(time.Millisecond), float64(rss)/(1<<20))
			if c.ok && err != nil {
				t.Fatalf("exit %v: %s", err, tail(out.String()))
			}
			if !c.ok && (cmd.ProcessState.ExitCode() != 1 || !strings.Contains(out.String(), c.cause) || !strings.Contains(out.String(), "fetch seq 101")) {
				t.Fatalf("want exit 1 naming seq 101 and %q: %v: %s", c.cause, err, tail(out.String()))
			}
			if want := int64(101); !c.ok {
				want = 100
				if p := pointerSeq(t, d.Pool, "minute"); p != want {
					t.Errorf("pointer at %d, want %d", p, want)
				}
			}
			if rss > c.maxRSS {
				t.Errorf("peak RSS %d MiB, over the bound of %d MiB", rss>>20, c.maxRSS>>20)
			}
		})
	}
}

// watchPeakRSS polls the peak resident set size (VmHWM) of process pid once it runs exe, until
// the returned function is called (after Wait); that returns the largest value seen, in bytes.
// getrusage's ru_maxrss cannot be used: Go starts children with vfork semantics (CLONE_VM), and
// at exec Linux folds the parent's peak RSS, the test process's, into the child's maxrss.
func watchPeakRSS(pid int, exe string) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	want, _ := filepath.Abs(exe)
	read := func() {
		if p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || p != want {
			return // not yet exec'd (the mm is still the parent's) or gone
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if kb*1024 > peak.Load() {
					peak.Store(kb * 1024)
				}
			}
		}
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 { close(stop); <-done; return peak.Load() }
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

func mustAbsPath(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// writerFunc fills a gzip stream without holding the uncompressed document.
type writerFunc func(w *gzip.Writer)

func whitespace(n int) writerFunc {
	return func(w *gzip.Writer) {
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for ; n > 0; n -= len(chunk) {
			w.Write(chunk[:min(n, len(chunk))])
		}
	}
}

// bigOsmChange is a valid osmChange of about n bytes: nodes (outside the region) with tags, each
// a new id.
func bigOsmChange(n int) writerFunc {
	return func(w *gzip.Writer) {
		w.Write([]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<osmChange version=\"0.6\" generator=\"rss test\">\n<create>\n"))
		var b []byte
		for id, written := 1, 0; written < n; id++ {
			b = fmt.Appendf(b[:0], `  <node id="%d" version="1" timestamp="2026-01-01T00:00:00Z" uid="%d" user="mapper%d" changeset="%d" lat="48.%07d" lon="2.%07d">`+"\n"+
				`    <tag k="name" v="Node number %d"/>`+"\n"+`    <tag k="amenity" v="bench"/>`+"\n  </node>\n",
				id, id%5000, id%5000, 1000+id/500, id%10000000, (id*7)%10000000, id)
			w.Write(b)
			written += len(b)
		}
		w.Write([]byte("</create>\n</osmChange>\n"))
	}
}

func gzipped(f writerFunc) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	f(zw)
	zw.Close()
	return buf.Bytes()
}
