package backup

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/fetch"
	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/replication"
	"github.com/osmtrack/osmtrack/etl/sim"
	"github.com/osmtrack/osmtrack/etl/status"
)

// simPipeline fetches a simulated region's minutely diffs and changeset files through the real
// fetch step into db, with metrics into ix.
type simPipeline struct {
	minute, changesets *fetch.Fetcher
	rec                *metrics.Recorder
}

func newSimPipeline(t *testing.T, base string, db *pgxpool.Pool, ix *dbtest.Influx) *simPipeline {
	log := slog.New(slog.DiscardHandler)
	var rec *metrics.Recorder
	if ix != nil {
		rec = metrics.New(config.Metrics{URL: ix.URL, Token: ix.Token, Bucket: ix.Bucket, Timeout: config.Duration(5 * time.Second)}, log, nil)
	}
	client := replication.NewClient(replication.Options{UserAgent: "osmtrack/test", Retries: 1, Backoff: 10 * time.Millisecond})
	return &simPipeline{
		minute:     &fetch.Fetcher{DB: db, Feed: replication.NewFeed(base+"/replication/minute/", replication.Minute, client), Metrics: rec, Log: log},
		changesets: &fetch.Fetcher{DB: db, Feed: replication.NewFeed(base+"/replication/changesets/", replication.Changesets, client), Metrics: rec, Log: log},
		rec:        rec,
	}
}

// run fetches the minutely feed from start (a new pointer's first sequence) to last, and the changeset feed.
func (p *simPipeline) run(t *testing.T, start, last uint64) {
	t.Helper()
	ctx := context.Background()
	if _, err := p.minute.Run(ctx, fetch.Options{Pointer: "minute", Start: fmt.Sprint(start), ToSeq: last}); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if _, err := p.changesets.RunChangesets(ctx, fetch.Options{Pointer: "changesets", Start: "head"}); err != nil {
		t.Fatalf("fetch --changesets: %v", err)
	}
	if p.rec != nil {
		if err := p.rec.Flush(ctx); err != nil {
			t.Fatalf("metrics: %v", err)
		}
	}
}

// TestRoundTripSimulated: a simulated run through fetch fills PostGIS and InfluxDB; both are
// backed up, dropped and restored, and compared; then fetching continues from where the backup
// left it and ends exactly where an uninterrupted run ends.
func TestRoundTripSimulated(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated round trip")
	}
	ctx := context.Background()
	rpc := dbtest.Require(t, dbtest.EnvInfluxRPC)[0]
	dir := t.TempDir()
	const minutes = 40
	st, err := sim.Generate(ctx, sim.Options{Profile: sim.ProfileRegion, Minutes: minutes, Seed: 7, Out: dir})
	if err != nil {
		t.Fatalf("sim: %v", err)
	}
	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	start, half := st.StartSeq, st.StartSeq+minutes/2-1

	db := dbtest.PG(t)
	ix := dbtest.InfluxDB(t)
	p := newSimPipeline(t, srv.URL, db.Pool, ix)
	p.run(t, start, half)
	var elements, diffs int64
	db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM elements), (SELECT count(*) FROM diffs)`).Scan(&elements, &diffs)
	if elements == 0 || diffs != minutes/2 {
		t.Fatalf("the first half stored %d elements and %d diffs", elements, diffs)
	}
	wantPG := tableSums(t, db.Pool)
	iopts := InfluxOptions{URL: ix.URL, Admin: ix.Token, RPC: rpc, Database: ix.Database}
	wantSeries, wantFields, err := InfluxCounts(ctx, &iopts, ix.Database)
	if err != nil || wantSeries == 0 {
		t.Fatalf("influx after the run: %d series, %v", wantSeries, err)
	}

	bdir := t.TempDir()
	_, dump, err := PostGIS(ctx, bdir, PostGISOptions{URL: db.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, idir, err := Influx(ctx, bdir, iopts)
	if err != nil {
		t.Fatal(err)
	}

	// Drop the data.
	dbtest.Exec(t, db.Pool, `DROP TABLE replication_state, diffs, elements, changesets, changeset_labels, analyses, job_runs CASCADE`)
	if _, err := ix.Query("DROP DATABASE " + ix.Database); err != nil {
		t.Fatal(err)
	}

	if _, err := RestorePostGIS(ctx, dump, PostGISOptions{URL: db.URL, Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := RestoreInflux(ctx, idir, InfluxOptions{URL: ix.URL, Admin: ix.Token, RPC: rpc}); err != nil {
		t.Fatal(err)
	}
	dbtest.SameTables(t, wantPG, tableSums(t, db.Pool))
	gotSeries, gotFields, err := InfluxCounts(ctx, &iopts, ix.Database)
	if err != nil || gotSeries != wantSeries || !reflect.DeepEqual(gotFields, wantFields) {
		t.Errorf("influx after restore: %d series %v (%v), want %d %v", gotSeries, gotFields, err, wantSeries, wantFields)
	}

	// Fetching continues from the restored pointer; the end equals an uninterrupted run's.
	p.run(t, start, st.EndSeq)
	ref := dbtest.PG(t)
	newSimPipeline(t, srv.URL, ref.Pool, nil).run(t, start, st.EndSeq)
	for _, q := range []string{
		`SELECT md5(string_agg(e::text, E'\n' ORDER BY e::text)) FROM elements e`,
		`SELECT string_agg(seq::text, ',' ORDER BY seq) FROM diffs`,
		`SELECT string_agg(name || '=' || seq, ',' ORDER BY name) FROM replication_state`,
		`SELECT md5(string_agg(row(id, username, uid, created_at, closed_at, first_seq, last_seq, num_create, num_modify, num_delete, tracked)::text, E'\n' ORDER BY id)) FROM changesets`,
	} {
		var got, want string
		if err := db.Pool.QueryRow(ctx, q).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if err := ref.Pool.QueryRow(ctx, q).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("after continuing from the restore, %s\n got %.200s\nwant %.200s", q, got, want)
		}
	}
	var after int64
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM diffs`).Scan(&after)
	if after != minutes {
		t.Errorf("%d diffs after continuing, want %d", after, minutes)
	}
	r, err := status.Collect(ctx, db.Pool, status.Options{ExpectedIntervals: map[string]time.Duration{}, MaxLag: 1000 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.GapsTotal != 0 || !r.Healthy {
		t.Errorf("status after continuing: gaps %v, problems %q", r.Gaps, r.Problems)
	}
}
