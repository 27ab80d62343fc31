package backup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// influxFixture is a fresh database with points in three measurements and a user granted READ
// on it, plus the options to back it up.
func influxFixture(t *testing.T) (*dbtest.Influx, InfluxOptions, string) {
	t.Helper()
	rpc := dbtest.Require(t, dbtest.EnvInfluxRPC)[0]
	ix := dbtest.InfluxDB(t)
	user := "reader_" + strings.TrimPrefix(ix.Database, "osmtrack_test_")
	if _, err := ix.Query(fmt.Sprintf(`CREATE USER %s WITH PASSWORD 'pw'`, user)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Query("DROP USER " + user) })
	if _, err := ix.Query(fmt.Sprintf(`GRANT READ ON %s TO %s`, ix.Database, user)); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 500; i++ {
		ts := base.Add(time.Duration(i) * time.Minute).UnixNano()
		fmt.Fprintf(&lines, "job_run,job=%s,outcome=ok duration_seconds=%d.5,items=%di,errors=0i %d\n", []string{"fetch", "filter", "analyse", "publish"}[i%4], i%30, i, ts)
		fmt.Fprintf(&lines, "diff,pointer=minute seq=%di,bytes=%di,lag_seconds=%d %d\n", 6100000+i, 1000+i, 40+i%7, ts)
		if i%10 == 0 {
			fmt.Fprintf(&lines, "api_request,endpoint=changeset,status=200 ms=%d %d\n", 100+i, ts)
		}
	}
	user0, pass, _ := strings.Cut(ix.Token, ":")
	req, _ := http.NewRequest("POST", ix.URL+"/write?db="+ix.Database, strings.NewReader(lines.String()))
	req.SetBasicAuth(user0, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("write: %s", resp.Status)
	}
	opts := InfluxOptions{URL: ix.URL, Admin: ix.Token, RPC: rpc, Database: ix.Database, Version: "test", Daily: 7, Weekly: 4}
	return ix, opts, user
}

func grantsOf(t *testing.T, ix *dbtest.Influx, user string) string {
	t.Helper()
	out, err := ix.Query("SHOW GRANTS FOR " + user)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInfluxRoundTrip(t *testing.T) {
	ctx := context.Background()
	ix, opts, user := influxFixture(t)
	series, fields, err := InfluxCounts(ctx, &opts, ix.Database)
	if err != nil {
		t.Fatal(err)
	}
	if series != 6 || fields["job_run"]["items"] != 500 || fields["diff"]["seq"] != 500 || fields["api_request"]["ms"] != 50 {
		t.Fatalf("fixture counts: %d series, %v", series, fields)
	}
	dir := t.TempDir()
	m, bdir, err := Influx(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Influx.Series != series || !reflect.DeepEqual(m.Influx.Fields, fields) {
		t.Errorf("manifest counts %d %v", m.Influx.Series, m.Influx.Fields)
	}
	if len(m.Influx.Grants) != 1 || m.Influx.Grants[0] != (InfluxGrant{User: user, Privilege: "READ"}) {
		t.Errorf("manifest grants = %+v", m.Influx.Grants)
	}
	if len(m.Files) < 2 {
		t.Errorf("manifest files = %+v", m.Files)
	}

	// Drop the database (its grants go with it) and restore.
	if _, err := ix.Query("DROP DATABASE " + ix.Database); err != nil {
		t.Fatal(err)
	}
	if g := grantsOf(t, ix, user); strings.Contains(g, ix.Database) {
		t.Fatalf("grant survived the drop: %s", g)
	}
	if err := RestoreInflux(ctx, bdir, InfluxOptions{URL: ix.URL, Admin: ix.Token, RPC: opts.RPC}); err != nil {
		t.Fatal(err)
	}
	s2, f2, err := InfluxCounts(ctx, &opts, ix.Database)
	if err != nil {
		t.Fatal(err)
	}
	if s2 != series || !reflect.DeepEqual(f2, fields) {
		t.Errorf("after restore: %d series %v, want %d %v", s2, f2, series, fields)
	}
	if g := grantsOf(t, ix, user); !strings.Contains(g, fmt.Sprintf(`["%s","READ"]`, ix.Database)) {
		t.Errorf("grant not restored: %s", g)
	}
	// No temporary database is left behind.
	dbs, _ := opts.databases(ctx)
	for d := range dbs {
		if strings.HasPrefix(d, ix.Database+"_restore_") {
			t.Errorf("temporary database %s left behind", d)
		}
	}

	// Over the restored database: refused without --force, replaced (not doubled) with it.
	err = RestoreInflux(ctx, bdir, InfluxOptions{URL: ix.URL, Admin: ix.Token, RPC: opts.RPC})
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "holds measurements: use --force") {
		t.Fatalf("restore over data: %v", err)
	}
	if err := RestoreInflux(ctx, bdir, InfluxOptions{URL: ix.URL, Admin: ix.Token, RPC: opts.RPC, Force: true}); err != nil {
		t.Fatal(err)
	}
	s3, f3, _ := InfluxCounts(ctx, &opts, ix.Database)
	if s3 != series || !reflect.DeepEqual(f3, fields) {
		t.Errorf("after forced restore: %d series %v", s3, f3)
	}
	if g := grantsOf(t, ix, user); !strings.Contains(g, fmt.Sprintf(`["%s","READ"]`, ix.Database)) {
		t.Errorf("grant not restored after a forced restore: %s", g)
	}
}

func TestInfluxRestoreCorrupt(t *testing.T) {
	ctx := context.Background()
	ix, opts, _ := influxFixture(t)
	dir := t.TempDir()
	m, bdir, err := Influx(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Query("DROP DATABASE " + ix.Database); err != nil {
		t.Fatal(err)
	}
	var shard string
	for _, f := range m.Files {
		if strings.HasSuffix(f.Name, ".tar.gz") {
			shard = filepath.Join(bdir, f.Name)
		}
	}
	good, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"truncated": good[:len(good)-10], "corrupted": append(append([]byte(nil), good[:20]...), append([]byte{good[20] ^ 1}, good[21:]...)...)} {
		os.WriteFile(shard, data, 0o600)
		err := RestoreInflux(ctx, bdir, InfluxOptions{URL: ix.URL, Admin: ix.Token, RPC: opts.RPC, Force: true})
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), filepath.Base(shard)) {
			t.Errorf("%s shard: %v", name, err)
		}
	}
	dbs, _ := opts.databases(ctx)
	for d := range dbs {
		if strings.HasPrefix(d, ix.Database) {
			t.Errorf("database %s exists after refused restores", d)
		}
	}
}
