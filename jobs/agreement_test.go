package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// agreementRules exercise every input the changeset builder gives the rules: edit locations
// (the diff's, the seed's, ways' nodes), the bbox, previous versions (element old:), the edit
// counts, the metadata, and analysis reasons combined with a region and with previous versions.
const agreementRules = `labels:
  - label: in-town
    region: town
  - label: town-bbox
    region: town
    match: bbox
  - label: renamed
    element: {action: modify, key: name, old: true}
  - label: deleted-tagged
    element: {action: delete, key: '^(highway|building|amenity|shop|name)$', old: true}
  - label: big
    count: {min: 20}
  - label: small-edit
    all: [open: false, changes_count: {max: 3}]
  - label: reviewed-in-town
    all: [reason: review_requested, region: town]
  - label: flagged-old
    all:
      - reasons: [mass_deletion, major_road_deleted, place_changed, dragged_node, new_mapper, no_editor, suspect_word, review_requested, possible_import, mass_modification, large_building, very_long_name]
      - element: {key: '^.', old: true}
prefilter: [in-town, town-bbox]
`

// TestFileAndDatabasePathsAgree runs the same rules over the same simulated hour through the
// file path (`osmtrack rules test` on the changeset files, the diffs and the base world as an
// extract) and through the database path (seed, fetch --changesets, fetch, filter, analyse
// into a fresh database) and requires identical labels with identical evidence, and the same
// verdicts. Analysis labels: the file path's changesets with the reasons analyse found give the
// labels analyse wrote. A "world" region makes fetch keep every edit, as the files hold them.
func TestFileAndDatabasePathsAgree(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := sim.Generate(ctx, sim.Options{Minutes: 60, Seed: 7, Out: dir, StartTime: start}); err != nil {
		t.Fatal(err)
	}
	db := dbtest.PG(t)
	srvSim, err := sim.Open(dir, sim.ServeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srvSim.Close()
	srv := httptest.NewServer(srvSim)
	defer srv.Close()
	rulesFile := writeFile(t, dir, "rules.yaml", agreementRules)
	cfg := writeFile(t, dir, "config.yaml", fmt.Sprintf(`osm:
  replication_url: %[1]s/replication/minute/
  changeset_replication_url: %[1]s/replication/changesets/
  api_url: %[1]s/api/0.6/
  retries: 1
log:
  level: warn
regions:
  town:
    file: %[2]s
  world:
    geojson: {type: Polygon, coordinates: [[[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]]}
rules:
  file: %[3]s
filter:
  metadata_wait: 1m
analyse:
  api_requests_per_second: 1000
`, srv.URL, filepath.Join(dir, "region.poly"), rulesFile))
	t.Setenv("OSMTRACK_DATABASE_URL", db.URL)
	t.Setenv("OSMTRACK_CONFIG", cfg)
	t.Setenv("OSMTRACK_INFLUX_URL", "")
	step := func(args ...string) {
		t.Helper()
		if code, out := runCLI(t, args...); code != exitOK {
			t.Fatalf("osmtrack %v: exit %d\n%s", args, code, out)
		}
	}

	// The database path.
	base := filepath.Join(dir, "api/base.osm.gz")
	step("seed", "--extract", base, "--set-pointer")
	step("fetch", "--changesets")
	step("fetch")
	for range 5 {
		step("filter")
		step("analyse")
	}
	type dbChangeset struct {
		state, reason string
		reasons       []string
		labels        map[string]rules.Label // by source/label
	}
	inDB := map[int64]*dbChangeset{}
	rows, err := db.Pool.Query(ctx, `SELECT c.id, c.state, coalesce(c.state_reason, ''), coalesce(a.reasons, '{}')
		FROM changesets c LEFT JOIN analyses a ON a.changeset_id = c.id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		c := &dbChangeset{labels: map[string]rules.Label{}}
		var id int64
		if err := rows.Scan(&id, &c.state, &c.reason, &c.reasons); err != nil {
			t.Fatal(err)
		}
		inDB[id] = c
	}
	rows.Close()
	rows, err = db.Pool.Query(ctx, `SELECT changeset_id, source, label, evidence FROM changeset_labels`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var source, label string
		var ev []byte
		if err := rows.Scan(&id, &source, &label, &ev); err != nil {
			t.Fatal(err)
		}
		var l rules.Label
		if err := json.Unmarshal(ev, &l); err != nil {
			t.Fatal(err)
		}
		inDB[id].labels[source+"/"+label] = l
	}
	rows.Close()

	// The file path: rules test over the files the simulator served.
	csFiles, _ := filepath.Glob(filepath.Join(dir, "replication/changesets/*/*/*.osm.gz"))
	oscFiles, _ := filepath.Glob(filepath.Join(dir, "replication/minute/*/*/*.osc.gz"))
	sort.Strings(csFiles)
	sort.Strings(oscFiles)
	code, printed, errOut := runIO(t, "rules", "test", "--changesets", strings.Join(csFiles, ","), "--osc", strings.Join(oscFiles, ","),
		"--extract", base, "--format", "json")
	if code != exitOK {
		t.Fatalf("rules test: exit %d: %s", code, errOut)
	}
	var res testOutput
	if err := json.Unmarshal([]byte(printed), &res); err != nil {
		t.Fatal(err)
	}

	compared, labelled, analyseLabels := 0, 0, 0
	for _, tc := range res.Changesets {
		c := inDB[tc.ID]
		if c == nil {
			continue // a changeset without edits or bbox: fetch keeps no metadata of it
		}
		compared++
		wantState := map[string]bool{"dropped": tc.Verdict == "drop", "filtered": tc.Verdict == "analyse",
			"analysed": tc.Verdict == "analyse", "done": tc.Verdict == "analyse"}
		if !wantState[c.state] || c.reason != tc.Reason {
			t.Errorf("changeset %d: rules test says %s (%s); the database %s (%s)", tc.ID, tc.Verdict, tc.Reason, c.state, c.reason)
		}
		fromFile := map[string]rules.Label{}
		for _, e := range tc.Evidence {
			l := fromFile["filter/"+e.Label]
			l.Label, l.Rule = e.Label, e.Rule
			l.Evidence = append(l.Evidence, e.Evidence)
			fromFile["filter/"+e.Label] = l
		}
		fromDB := map[string]rules.Label{}
		for k, l := range c.labels {
			if strings.HasPrefix(k, "filter/") {
				l.Description = ""
				fromDB[k] = l
			}
		}
		if !reflect.DeepEqual(fromFile, fromDB) {
			t.Errorf("changeset %d: filter labels differ\nrules test: %+v\ndatabase:   %+v", tc.ID, fromFile, fromDB)
		}
		labelled += len(fromDB)
	}
	if compared < 150 || labelled < 300 {
		t.Fatalf("compared %d changesets with %d filter labels: the simulated hour has some 170 changesets", compared, labelled)
	}

	// Analysis labels: the file path's changesets, with the reasons analyse found.
	set, err := rules.LoadFile(rulesFile, regionsOf(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	css, err := changeset.ReadFiles(ctx, changeset.Files{Changesets: csFiles, OSC: oscFiles, Extracts: []string{base}}, set.Regions())
	if err != nil {
		t.Fatal(err)
	}
	analysed := 0
	for _, cs := range css {
		c := inDB[cs.ID]
		if c == nil || (c.state != "analysed" && c.state != "done") {
			continue
		}
		analysed++
		cs.Reasons = c.reasons
		labels, _ := set.Evaluate(cs, rules.PhaseAnalyse)
		fromFile := map[string]rules.Label{}
		for _, l := range labels {
			fromFile["analyse/"+l.Label] = l
		}
		fromDB := map[string]rules.Label{}
		for k, l := range c.labels {
			if strings.HasPrefix(k, "analyse/") {
				fromDB[k] = l
			}
		}
		if !reflect.DeepEqual(fromFile, fromDB) {
			t.Errorf("changeset %d (reasons %v): analyse labels differ\nfiles:    %+v\ndatabase: %+v", cs.ID, c.reasons, fromFile, fromDB)
		}
		analyseLabels += len(fromDB)
	}
	if analysed < 100 || analyseLabels == 0 {
		t.Errorf("%d changesets analysed, %d analyse labels: the comparison proves nothing", analysed, analyseLabels)
	}
	t.Logf("%d changesets, %d filter labels and %d analyse labels identical on both paths", compared, labelled, analyseLabels)
}

func regionsOf(t *testing.T, cfgPath string) region.Set {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := region.LoadSet(cfg.Regions)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
