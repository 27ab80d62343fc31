package site

import (
	"context"
	"encoding/json"
	"path/filepath"
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
	res, err := Publish(context.Background(), pool, testConfigBench(b), Options{Out: out, Full: full, LeafletDir: leafletForTest(b), Overlap: time.Millisecond})
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
