package site

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// seedMany inserts n analysed changesets spread over the last 29 days: 500 users, three
// labels, a document with 5 features and 4 elements each.
func seedMany(b testing.TB, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := context.Background()
	doc, err := json.Marshal(testDoc(1, "user", 13.4, 52.5))
	if err != nil {
		b.Fatal(err)
	}
	stmts := []string{
		`INSERT INTO changesets (id, username, uid, created_at, closed_at, open, tags, num_create, num_modify, num_delete, state, bbox)
		 SELECT g, 'user' || (g % 500), g % 500 + 1, now() - (g % (29*24*60)) * interval '1 minute', now() - (g % (29*24*60)) * interval '1 minute' + interval '1 minute',
		        false, jsonb_build_object('comment', 'edit number ' || g, 'created_by', 'iD 2.30', 'hashtags', '#osm'),
		        2, 1, 1, CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'done' END,
		        ST_MakeEnvelope(13.4 + (g % 100) * 0.001, 52.5, 13.402 + (g % 100) * 0.001, 52.502, 4326)
		 FROM generate_series(1, $1::int) g`,
		`INSERT INTO changeset_labels (changeset_id, label, source, evidence)
		 SELECT g, (ARRAY['roads', 'shops', 'buildings'])[g % 3 + 1], 'filter', jsonb_build_object('rule', 'r' || (g % 3), 'predicate', 'highway=*', 'detail', jsonb_build_object('matched', g))
		 FROM generate_series(1, $1::int) g`,
		`INSERT INTO analyses (changeset_id, schema_version, doc, complete, reasons, analysed_at)
		 SELECT g, 1, jsonb_set($2::jsonb, '{changeset,id}', to_jsonb(g)), g % 7 <> 0, ARRAY['deleted-shop', 'other-users'], now() - interval '1 hour'
		 FROM generate_series(1, $1::int) g WHERE g % 50 <> 0`,
	}
	for i, q := range stmts {
		args := []any{n}
		if i == 2 {
			args = append(args, string(doc))
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
}

func benchPublish(b *testing.B, pool *pgxpool.Pool, out string, full bool) *Result {
	b.Helper()
	res, err := Publish(context.Background(), pool, Options{Publish: testConfigBench(b).Publish, Out: out, Full: full, LeafletDir: leafletForTest(b), Overlap: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

func testConfigBench(b testing.TB) *config.Config {
	c := testConfig(b)
	c.Publish.PageSize = 50
	c.Publish.Days = 30
	return c
}

// BenchmarkPublishFull10000 is a full rebuild of a site of 10,000 changesets (target ≤ 10 s).
func BenchmarkPublishFull10000(b *testing.B) {
	db := dbtest.PG(b)
	seedMany(b, db.Pool, 10000)
	out := filepath.Join(b.TempDir(), "site")
	b.ResetTimer()
	cpu0 := cpuTimes()
	for i := 0; i < b.N; i++ {
		res := benchPublish(b, db.Pool, out, true)
		if res.Changesets != 10000 {
			b.Fatalf("%+v", res)
		}
		if i == 0 {
			b.Logf("phases: %v written %d linked %d", res.Phases, res.Written, res.Linked)
		}
	}
	cpu1 := cpuTimes()
	b.ReportMetric((cpu1[0]-cpu0[0])/float64(b.N), "user-s/op")
	b.ReportMetric((cpu1[1]-cpu0[1])/float64(b.N), "sys-s/op")
}

// cpuTimes is the process's user and system CPU time so far, in seconds: on a shared machine
// the CPU a run costs varies much less than its wall time.
func cpuTimes() [2]float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return [2]float64{}
	}
	return [2]float64{float64(syscall.TimevalToNsec(ru.Utime)) / 1e9, float64(syscall.TimevalToNsec(ru.Stime)) / 1e9}
}

// BenchmarkPublishIncremental50 publishes a 10,000-changeset site after 50 changed (target ≤ 1 s).
func BenchmarkPublishIncremental50(b *testing.B) {
	db := dbtest.PG(b)
	seedMany(b, db.Pool, 10000)
	out := filepath.Join(b.TempDir(), "site")
	benchPublish(b, db.Pool, out, true)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := db.Pool.Exec(ctx, `UPDATE changesets SET tags = tags || jsonb_build_object('review', $1::int) WHERE id IN (SELECT (g * 197 + $1::int) % 10000 + 1 FROM generate_series(1, 50) g)`, i); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		b.StartTimer()
		res := benchPublish(b, db.Pool, out, false)
		if res.Full || res.Rendered != 50 {
			b.Fatalf("%+v", res)
		}
		if i == 0 {
			b.Logf("phases: %v written %d linked %d", res.Phases, res.Written, res.Linked)
		}
	}
}

// benchSize is OSMTRACK_BENCH_CHANGESETS, else def.
func benchSize(b testing.TB, def int) int {
	if s := os.Getenv("OSMTRACK_BENCH_CHANGESETS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 {
			b.Fatalf("OSMTRACK_BENCH_CHANGESETS=%q: want a number ≥ 100", s)
		}
		return n
	}
	return def
}

// maxRSS is the process's peak resident set size in bytes.
func maxRSS() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) * 1024
}

// BenchmarkPublishScale is a full publish of OSMTRACK_BENCH_CHANGESETS changesets (default
// 20,000 to keep scripts/bench.sh short; 150,000 is 30 days of a country-size region, where the
// targets are ≤ 60 s and ≤ 1 GiB RSS), then incremental publishes after 50 changed (target ≤ 1 s),
// at least three (b.N when more), so that -benchtime 1x seeds once and still gives a median. It
// reports full-s, incr-s (the median), their CPU (full-cpu-s, incr-cpu-s: user+system, which
// varies much less than wall time on a shared machine; full-user-s and full-sys-s apart: the
// system time of creating 300,000 files depends on what else the machine deleted lately) and
// peak-rss-MiB. Run it alone: the RSS
// is the test process's peak.
//
//	OSMTRACK_BENCH_CHANGESETS=150000 go test -run '^$' -bench PublishScale -benchtime 1x ./etl/site/
func BenchmarkPublishScale(b *testing.B) {
	n := benchSize(b, 20000)
	// The heap limit and GC target `osmtrack publish` sets (jobs/publish.go).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(MemoryLimit))
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	db := dbtest.PG(b)
	seedMany(b, db.Pool, n)
	out := filepath.Join(b.TempDir(), "site")
	t0, c0 := time.Now(), cpuTimes()
	res := benchPublish(b, db.Pool, out, true)
	full, c1 := time.Since(t0), cpuTimes()
	if res.Changesets != n {
		b.Fatalf("%+v", res)
	}
	b.Logf("full publish of %d changesets: %v, phases %v, written %d", n, full.Round(time.Millisecond), res.Phases, res.Written)
	ctx := context.Background()
	var incr []time.Duration
	var incrCPU []float64
	runs := b.N
	if runs < 3 {
		runs = 3
	}
	if s := os.Getenv("OSMTRACK_BENCH_INCR_RUNS"); s != "" {
		// More incremental runs after one full run (-benchtime Nx runs the whole benchmark,
		// seeding and full run included, for 1 and then N).
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("OSMTRACK_BENCH_INCR_RUNS=%q: want a number ≥ 1", s)
		}
		runs = n
	}
	if f := os.Getenv("OSMTRACK_BENCH_INCR_CPUPROFILE"); f != "" {
		// The incremental runs' CPU profile (the full run's would drown it).
		w, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		if err := pprof.StartCPUProfile(w); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	for i := 0; i < runs; i++ {
		b.StopTimer()
		if _, err := db.Pool.Exec(ctx, `UPDATE changesets SET tags = tags || jsonb_build_object('review', $1::int) WHERE id IN (SELECT (g * 197 + $1::int) % $2::int + 1 FROM generate_series(1, 50) g)`, i, n); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		b.StartTimer()
		t1, c2 := time.Now(), cpuTimes()
		r := benchPublish(b, db.Pool, out, false)
		incr = append(incr, time.Since(t1))
		c3 := cpuTimes()
		incrCPU = append(incrCPU, c3[0]+c3[1]-c2[0]-c2[1])
		if r.Full || r.Rendered != 50 {
			b.Fatalf("%+v", r)
		}
		b.Logf("incremental: %v, phases %v written %d kept %d", incr[i].Round(time.Millisecond), r.Phases, r.Written, r.Linked)
	}
	b.StopTimer()
	sort.Slice(incr, func(i, j int) bool { return incr[i] < incr[j] })
	sort.Float64s(incrCPU)
	b.ReportMetric(full.Seconds(), "full-s")
	b.ReportMetric(c1[0]+c1[1]-c0[0]-c0[1], "full-cpu-s")
	b.ReportMetric(c1[0]-c0[0], "full-user-s")
	b.ReportMetric(c1[1]-c0[1], "full-sys-s")
	b.ReportMetric(incr[len(incr)/2].Seconds(), "incr-s")
	b.ReportMetric(incrCPU[len(incrCPU)/2], "incr-cpu-s")
	b.ReportMetric(maxRSS()/(1<<20), "peak-rss-MiB")
	// The biggest file of the site: no page the browser loads may pass 2 MB.
	var biggest int64
	var name string
	filepath.Walk(filepath.Join(out, "current")+"/", func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Size() > biggest {
			biggest, name = fi.Size(), p
		}
		return nil
	})
	b.Logf("largest file: %s, %d bytes", name, biggest)
	b.ReportMetric(float64(biggest)/(1<<20), "largest-file-MiB")
}

// BenchmarkPublishAgainRightAfter is the demo's second publish: every changeset was updated
// minutes ago (within publish.overlap, 10 minutes), nothing changed since the previous run.
// Before the row fingerprints it re-rendered all 10,000 pages.
func BenchmarkPublishAgainRightAfter(b *testing.B) {
	db := dbtest.PG(b)
	seedMany(b, db.Pool, 10000)
	out := filepath.Join(b.TempDir(), "site")
	run := func(full bool) *Result {
		res, err := Publish(context.Background(), db.Pool, Options{Publish: testConfigBench(b).Publish, Out: out, Full: full, LeafletDir: leafletForTest(b), Overlap: 10 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	t0 := time.Now()
	run(true)
	b.ReportMetric(time.Since(t0).Seconds(), "full-s")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := run(false)
		if res.Full || res.Rendered != 0 {
			b.Fatalf("%+v", res)
		}
		if i == 0 {
			b.Logf("phases: %v written %d linked %d", res.Phases, res.Written, res.Linked)
		}
	}
}
