package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/analysis"
	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// simAPI generates a short simulated region world (every edit kind) and serves it; it returns
// the API base URL and the changesets by comment.
func simAPI(t *testing.T) (string, map[int64]string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := sim.Generate(context.Background(), sim.Options{Profile: sim.ProfileRegion, Minutes: len(sim.Kinds()) + 4, Seed: 11, Out: dir}); err != nil {
		t.Fatal(err)
	}
	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	comments := map[int64]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "replication/changesets/*/*/*.osm.gz"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var o osm.OSM
		if err := xml.NewDecoder(zr).Decode(&o); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, c := range o.Changesets {
			comments[int64(c.ID)] = c.Tags.Find("comment")
		}
	}
	if len(comments) == 0 {
		t.Fatal("no changesets in the simulation")
	}
	return srv.URL + "/api/0.6/", comments
}

func TestCheckChangesetFromTheAPI(t *testing.T) {
	api, comments := simAPI(t)
	var id int64
	for cid, c := range comments {
		if strings.HasPrefix(c, "Import of building footprints") {
			id = cid
		}
	}
	if id == 0 {
		t.Fatal("the simulation has no import changeset")
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("analyse:\n  api_requests_per_second: 1000\n"), 0o644)
	check := func(t *testing.T, args ...string) (string, int) {
		t.Helper()
		code, out, msg := runIO(t, append([]string{"check"}, args...)...)
		return out + msg, code
	}
	idArg := strconv.FormatInt(id, 10)

	t.Run("json without a database", func(t *testing.T) {
		t.Setenv(config.EnvDatabaseURL, "")
		out, code := check(t, idArg, "--api", api, "--config", cfg, "--format", "json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, out)
		}
		var doc analysis.Document
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not a JSON document: %v\n%s", err, out)
		}
		if doc.Changeset.ID != id || !strings.HasPrefix(doc.Changeset.Tags["comment"], "Import") {
			t.Errorf("changeset %d %q, want %d with the import comment", doc.Changeset.ID, doc.Changeset.Tags["comment"], id)
		}
		if doc.Counts.Total == 0 || doc.Counts.Total != doc.Changeset.ChangesCount {
			t.Errorf("counts.total %d, changes_count %d: the download was not analysed in full", doc.Counts.Total, doc.Changeset.ChangesCount)
		}
		codes := map[string]bool{}
		for _, r := range doc.Reasons {
			codes[r.Code] = true
			if r.Text == "" || len(r.Evidence) == 0 {
				t.Errorf("reason %s without text or evidence: %+v", r.Code, r)
			}
		}
		if !codes["possible_import"] {
			t.Errorf("reasons %v lack possible_import", doc.Reasons)
		}
	})

	t.Run("text through a configured element store, left unchanged", func(t *testing.T) {
		db := dbtest.PG(t)
		t.Setenv(config.EnvDatabaseURL, db.URL)
		out, code := check(t, "--api", api, "--config", cfg, idArg) // the id after the flags
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, out)
		}
		for _, want := range []string{"changeset " + idArg, "possible_import", "before-states from the element store, then the OSM API"} {
			if !strings.Contains(out, want) {
				t.Errorf("text output lacks %q:\n%s", want, out)
			}
		}
		var n int
		if err := db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM elements) + (SELECT count(*) FROM changesets) + (SELECT count(*) FROM osm_users)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("check wrote %d rows into the database; it only reads", n)
		}
	})

	t.Run("errors", func(t *testing.T) {
		t.Setenv(config.EnvDatabaseURL, "")
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"999999999", "--api", api, "--config", cfg}, "changeset 999999999"},
			{[]string{"abc"}, `"abc" is not a changeset id`},
			{[]string{}, "which changeset?"},
			{[]string{idArg, "--format", "xml"}, `--format "xml"`},
		} {
			out, code := check(t, tc.args...)
			if code != exitUsage || !strings.Contains(out, tc.want) {
				t.Errorf("check %v: exit %d %q; want exit 2 naming %q", tc.args, code, out, tc.want)
			}
		}
	})
}
