package metrics_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/metrics"
)

// A point the Recorder writes is read back by the Reader, two statements at once; a bad
// statement and bad credentials are errors that say what InfluxDB said.
func TestReaderReadsWhatRecorderWrote(t *testing.T) {
	ix := dbtest.InfluxDB(t)
	ctx := context.Background()
	rec := metrics.New(config.Metrics{URL: ix.URL, Token: ix.Token, Bucket: ix.Bucket, Timeout: config.Duration(5 * time.Second)}, slog.New(slog.DiscardHandler), nil)
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	rec.Point(ctx, "job_run", map[string]string{"job": "it's"}, map[string]any{"items": 7}, at)
	rec.Close(ctx)

	r := metrics.Reader{URL: ix.URL, Auth: ix.Token}
	from := metrics.QuoteIdent(ix.Database) + `."autogen"."job_run"`
	res, err := r.Query(ctx, ix.Database, `SELECT "items" FROM `+from+` WHERE "job" = 'it\'s'; SELECT count("items") FROM `+from)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || len(res[0].Series) != 1 || len(res[0].Series[0].Values) != 1 {
		t.Fatalf("results %+v", res)
	}
	s := res[0].Series[0]
	if s.Name != "job_run" || strings.Join(s.Columns, ",") != "time,items" || s.Values[0][0] != "2026-11-21T12:00:00Z" || s.Values[0][1] != float64(7) {
		t.Errorf("series %+v", s)
	}
	if _, err := r.Query(ctx, ix.Database, `SELEKT 1`); err == nil || !strings.Contains(err.Error(), "error parsing query") {
		t.Errorf("bad statement: %v", err)
	}
	if _, err := (metrics.Reader{URL: ix.URL, Auth: "nobody:wrong"}).Query(ctx, ix.Database, `SHOW MEASUREMENTS`); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("bad credentials: %v", err)
	}
	if got := metrics.QuoteIdent(`a"b\c`); got != `"a\"b\\c"` {
		t.Errorf("QuoteIdent = %s", got)
	}
}
