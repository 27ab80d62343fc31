package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

var testOSM, _ = filepath.Abs("../testdata/osm")

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRulesTestJSON(t *testing.T) {
	t.Setenv("OSMTRACK_CONFIG", "")
	dir := t.TempDir()
	rulesFile := writeFile(t, dir, "rules.yaml", `
regions:
  fl:
    geojson: {type: Polygon, coordinates: [[[-80.5, 25.9], [-80.0, 25.9], [-80.0, 26.3], [-80.5, 26.3], [-80.5, 25.9]]]}
labels:
  - label: in-fl
    description: an edit in Fort Lauderdale
    region: fl
  - label: later
    reason: mass_delete
`)
	var code int
	var errOut string
	code, printed, errOut := runIO(t, "rules", "test", "--rules", rulesFile, "--osc", filepath.Join(testOSM, "minutely/241.osc"), "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Changesets []struct {
			ID       int64    `json:"id"`
			Labels   []string `json:"labels"`
			Evidence []struct {
				Label, Rule, Detail string
			} `json:"evidence"`
			Verdict string `json:"verdict"`
			Reason  string `json:"reason"`
		} `json:"changesets"`
		Pending []string `json:"pending"`
	}
	if err := json.Unmarshal([]byte(printed), &res); err != nil {
		t.Fatalf("%v\n%s", err, printed)
	}
	var analysed []int64
	for _, c := range res.Changesets {
		if c.Verdict == "analyse" {
			analysed = append(analysed, c.ID)
			if len(c.Evidence) == 0 || c.Evidence[0].Label != "in-fl" || c.Evidence[0].Rule != "rules.yaml:6" || !strings.Contains(c.Evidence[0].Detail, "inside fl") {
				t.Errorf("changeset %d evidence %+v", c.ID, c.Evidence)
			}
		} else if c.Verdict != "drop" || c.Reason == "" || len(c.Labels) != 0 {
			t.Errorf("changeset %d: %+v", c.ID, c)
		}
	}
	if len(res.Changesets) != 59 || len(analysed) != 3 || analysed[0] != 85063042 {
		t.Errorf("%d changesets, analysed %v", len(res.Changesets), analysed)
	}
	if len(res.Pending) != 1 || res.Pending[0] != "later" {
		t.Errorf("pending %v", res.Pending)
	}
}

func TestRulesTestTextAndErrors(t *testing.T) {
	t.Setenv("OSMTRACK_CONFIG", "")
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "labels:\n  - label: potlatch\n    editor: potlatch\nprefilter: potlatch\n")
	bad := writeFile(t, dir, "bad.yaml", "labels:\n  - label: x\n    editor: '(('\n")
	cs := filepath.Join(testOSM, "changeset-replication/245.osm.gz")
	var code int
	code, printed, _ := runIO(t, "rules", "test", "--rules", good, "--changesets", cs)
	if code != exitOK || !strings.Contains(printed, "changeset 31982803 by GarrettB: analyse") ||
		!strings.Contains(printed, `potlatch [good.yaml:2] editor regex "potlatch": editor (created_by) "Potlatch 2" matches /potlatch/`) ||
		!strings.Contains(printed, "25 changesets: 2 to analyse, 23 dropped") {
		t.Errorf("exit %d\n%s", code, printed)
	}
	code, printed, _ = runIO(t, "rules", "check", good)
	if code != exitOK || !strings.Contains(printed, "good.yaml: ok: 1 rules") {
		t.Errorf("check good: exit %d %s", code, printed)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rules", "check", bad}, exitUsage, "bad.yaml:3: regular expression"},
		{[]string{"rules", "test", "--rules", bad, "--changesets", cs}, exitUsage, "bad.yaml:3"},
		{[]string{"rules", "test", "--rules", good}, exitUsage, "give --changesets"},
		{[]string{"rules", "test", "--rules", good, "--changesets", cs, "--format", "xml"}, exitUsage, "--format"},
		{[]string{"rules", "test", "--rules", good, "--changesets", filepath.Join(dir, "missing.osm")}, exitFailure, "missing.osm"},
		{[]string{"rules", "frob"}, exitUsage, "unknown subcommand"},
		{[]string{"rules"}, exitUsage, "usage"},
	} {
		var out string
		code, out = runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("osmtrack %v: exit %d, want %d with %q; got %q", tc.args, code, tc.code, tc.want, out)
		}
	}
}

func TestConfigCheckLoadsRegionsAndRules(t *testing.T) {
	t.Setenv("OSMTRACK_CONFIG", "")
	dir := t.TempDir()
	writeFile(t, dir, "broken.poly", "x\n1\n1 1\n2 2\n")
	badRegion := writeFile(t, dir, "a.yaml", "regions:\n  x:\n    file: broken.poly\n")
	badRule := writeFile(t, dir, "b.yaml", "regions:\n  x:\n    file: "+filepath.Join(testOSM, "poly/berlin.poly")+
		"\nrules:\n  labels:\n    - label: a\n      region: y\n")
	good := writeFile(t, dir, "c.yaml", "regions:\n  x:\n    file: "+filepath.Join(testOSM, "poly/berlin.poly")+
		"\nrules:\n  labels:\n    - label: a\n      region: x\n")
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{badRegion, exitUsage, "broken.poly:5: unexpected end of file"},
		{badRule, exitUsage, `b.yaml:7: unknown region "y"`},
		{good, exitOK, "c.yaml: ok"},
	} {
		var code int
		var out string
		code, printed, out := runIO(t, "config", "check", "--config", tc.path)
		if code != tc.code || !strings.Contains(printed+out, tc.want) {
			t.Errorf("config check %s: exit %d, want %d with %q; got %q", filepath.Base(tc.path), code, tc.code, tc.want, printed+out)
		}
	}
}

func TestFilterStep(t *testing.T) {
	db := dbtest.PG(t)
	t.Setenv("OSMTRACK_DATABASE_URL", db.URL)
	t.Setenv("OSMTRACK_INFLUX_URL", "")
	dir := t.TempDir()
	cfg := writeFile(t, dir, "c.yaml", "regions:\n  berlin:\n    file: "+filepath.Join(testOSM, "poly/berlin.poly")+
		"\nrules:\n  labels:\n    - label: in-berlin\n      region: berlin\n")
	t.Setenv("OSMTRACK_CONFIG", cfg)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO changesets (id, tracked, meta_seq) VALUES (1, true, 1), (2, true, 1);
		INSERT INTO elements (type, id, version, changeset, ts, visible, action, geom) VALUES
			('n', 1, 1, 1, now(), true, 'create', ST_SetSRID(ST_MakePoint(13.41, 52.52), 4326)),
			('n', 2, 1, 2, now(), true, 'create', ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326))`); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "filter"); code != exitOK {
		t.Fatalf("filter: exit %d: %s", code, out)
	}
	var states string
	db.Pool.QueryRow(ctx, `SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM changesets`).Scan(&states)
	if states != "1:filtered,2:dropped" {
		t.Errorf("states %s", states)
	}
	var items int
	db.Pool.QueryRow(ctx, `SELECT items FROM job_runs WHERE job = 'filter' AND outcome = 'ok'`).Scan(&items)
	if items != 2 {
		t.Errorf("job_runs items %d", items)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"filter", "--refilter"}, "--refilter needs --since"},
		{[]string{"filter", "--since", "1d"}, "--since only goes with --refilter"},
		{[]string{"filter", "--refilter", "--since", "yesterday"}, "not an RFC 3339 time"},
	} {
		if code, out := runCLI(t, tc.args...); code != exitUsage || !strings.Contains(out, tc.want) {
			t.Errorf("osmtrack %v: exit %d: %s", tc.args, code, out)
		}
	}
	if code, out := runCLI(t, "filter", "--refilter", "--since", "7d"); code != exitOK {
		t.Errorf("refilter: exit %d: %s", code, out)
	}
}
