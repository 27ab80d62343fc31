package site

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/metrics"
)

func TestInfluxRunsOnStatusPage(t *testing.T) {
	ix := dbtest.InfluxDB(t)
	db := dbtest.PG(t)
	m := config.Metrics{URL: ix.URL, Token: ix.Token, Bucket: ix.Bucket, Timeout: config.Duration(5 * time.Second)}
	rec := metrics.New(m, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx := context.Background()
	now := time.Now()
	for i, job := range []string{"fetch", "fetch", "publish", "analyse"} {
		outcome := "ok"
		if job == "analyse" {
			outcome = "failed"
		}
		rec.Point(ctx, "job_run", map[string]string{"job": job, "outcome": outcome},
			map[string]any{"duration_seconds": 1.5 + float64(i), "items": 10 + i, "errors": 0}, now.Add(time.Duration(i-10)*time.Second))
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	reader := metrics.Reader{URL: m.URL, Auth: m.Reader()}
	runs, err := reader.RecentRuns(ctx, m.Bucket, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 || runs[0].Job != "analyse" || runs[0].Outcome != "failed" || runs[1].Job != "fetch" || runs[1].Items != 11 || runs[3].Job != "publish" {
		t.Fatalf("runs: %+v", runs)
	}
	out := t.TempDir()
	_, err = Publish(ctx, db.Pool, Options{Publish: testConfig(t).Publish, Out: out, LeafletDir: leafletForTest(t),
		Runs: func(ctx context.Context) ([]metrics.Run, error) { return reader.RecentRuns(ctx, m.Bucket, 3) }})
	if err != nil {
		t.Fatal(err)
	}
	st := readSite(t, out, "status.html")
	if !strings.Contains(st, "Recent runs (InfluxDB)") || !strings.Contains(st, "out-failed") || !strings.Contains(st, "<th>publish</th>") {
		t.Errorf("status page lacks the InfluxDB runs")
	}
	// A wrong password is shown on the page, not a failed publish.
	bad := m
	bad.Token = "admin:wrong"
	if _, err := (metrics.Reader{URL: bad.URL, Auth: bad.Reader()}).RecentRuns(ctx, bad.Bucket, 3); err == nil {
		t.Error("wrong credentials accepted")
	}
}
