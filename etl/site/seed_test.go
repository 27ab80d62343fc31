package site

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/osmtrack/osmtrack/etl/analysis"
	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/region"
)

// seed is a changeset to insert for a test.
type seed struct {
	ID       int64
	User     string
	UID      int64
	Created  time.Time
	Tags     map[string]string
	State    string
	Error    string
	Open     bool
	BBox     *[4]float64
	Labels   map[string]any // label -> evidence
	Doc      *analysis.Document
	Complete bool
}

func insertSeed(t testing.TB, pool *pgxpool.Pool, s seed) {
	t.Helper()
	ctx := context.Background()
	if s.State == "" {
		s.State = "done"
	}
	if s.Tags == nil {
		s.Tags = map[string]string{}
	}
	tags, _ := json.Marshal(s.Tags)
	var bbox any
	q := `INSERT INTO changesets (id, username, uid, created_at, closed_at, open, tags, num_create, num_modify, num_delete, state, error, bbox)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 2, 3, $8, nullif($9, ''), `
	args := []any{s.ID, s.User, s.UID, s.Created, s.Created.Add(time.Minute), s.Open, string(tags), s.State, s.Error}
	if s.BBox != nil {
		q += `ST_MakeEnvelope($10, $11, $12, $13, 4326))`
		args = append(args, s.BBox[0], s.BBox[1], s.BBox[2], s.BBox[3])
	} else {
		q += `NULL)`
	}
	_ = bbox
	if _, err := pool.Exec(ctx, q, args...); err != nil {
		t.Fatalf("insert changeset %d: %v", s.ID, err)
	}
	for l, ev := range s.Labels {
		b, _ := json.Marshal(ev)
		if _, err := pool.Exec(ctx, `INSERT INTO changeset_labels (changeset_id, label, source, evidence) VALUES ($1, $2, 'filter', $3)`, s.ID, l, string(b)); err != nil {
			t.Fatalf("insert label: %v", err)
		}
	}
	if s.Doc != nil {
		b, err := json.Marshal(s.Doc)
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, r := range s.Doc.Reasons {
			reasons = append(reasons, r.Code)
		}
		if reasons == nil {
			reasons = []string{}
		}
		if _, err := pool.Exec(ctx, `INSERT INTO analyses (changeset_id, schema_version, doc, complete, reasons, analysed_at) VALUES ($1, 1, $2, $3, $4, now())`,
			s.ID, string(b), s.Doc.Complete, reasons); err != nil {
			t.Fatalf("insert analysis: %v", err)
		}
	}
}

// testDoc is an analysis with one feature of each kind: a created node, a created way, a
// modified way (before and after), and a deleted node: 5 map features.
func testDoc(id int64, user string, lon, lat float64) *analysis.Document {
	fc := geojson.NewFeatureCollection()
	add := func(g orb.Geometry, action, typ string, eid int64, st string) {
		f := geojson.NewFeature(g)
		f.Properties = geojson.Properties{"action": action, "type": typ, "id": eid, "version": 1, "state": st}
		fc.Append(f)
	}
	d := 0.001
	add(orb.Point{lon, lat}, "create", "node", id*10+1, "after")
	add(orb.LineString{{lon, lat}, {lon + d, lat + d}, {lon + 2*d, lat}}, "create", "way", id*10+2, "after")
	add(orb.LineString{{lon, lat - d}, {lon + d, lat - d}}, "modify", "way", id*10+3, "before")
	add(orb.LineString{{lon, lat - d}, {lon + d, lat - 2*d}}, "modify", "way", id*10+3, "after")
	add(orb.Point{lon - d, lat}, "delete", "node", id*10+4, "before")
	now := time.Now().UTC()
	l := 120.0
	return &analysis.Document{
		SchemaVersion: 1,
		Changeset:     analysis.Changeset{ID: id, User: user, Tags: map[string]string{}, BBox: &[4]float64{lon - d, lat - 2*d, lon + 2*d, lat + d}},
		Counts: analysis.Counts{Create: analysis.TypeCounts{Node: 1, Way: 1}, Modify: analysis.TypeCounts{Way: 1},
			Delete: analysis.TypeCounts{Node: 1}, Total: 4},
		Elements: []analysis.Element{
			{Type: "node", ID: id*10 + 1, Version: 1, Action: "create", TagsAdded: map[string]string{"amenity": "bench"}, Label: "amenity=bench"},
			{Type: "way", ID: id*10 + 2, Version: 1, Action: "create", TagsAdded: map[string]string{"highway": "residential", "name": "Main Street"}, Label: `highway=residential "Main Street"`, LengthM: &l},
			{Type: "way", ID: id*10 + 3, Version: 2, Action: "modify", TagsChanged: map[string][2]string{"highway": {"track", "service"}}, PrevUser: "someone", PrevUID: 7, Label: "highway=service"},
			{Type: "node", ID: id*10 + 4, Version: 3, Action: "delete", TagsRemoved: map[string]string{"shop": "bakery"}, Label: "shop=bakery"},
		},
		TagSummary: analysis.TagSummary{Added: map[string]int{"amenity=bench": 1, "highway=residential": 1}, Removed: map[string]int{"shop=bakery": 1}, Changed: map[string]int{"highway: track → service": 1}},
		LengthM:    map[string]analysis.Length{"highway=residential": {Created: 120}, "highway=service": {Modified: 3}},
		OtherUsers: []analysis.OtherUser{{User: "someone", UID: 7, Modified: 1, Count: 1}},
		Reasons: []analysis.Reason{
			{Code: "deleted-shop", Text: "a shop was deleted", Evidence: map[string]any{"element": "node/4", "tags": map[string]any{"shop": "bakery"}}, Element: &analysis.ElementRef{Type: "node", ID: id*10 + 4, Version: 3}},
			{Code: "other-users", Text: "edits another user's elements", Evidence: map[string]any{"users": []any{"someone"}}},
		},
		Geometry:   fc,
		Complete:   true,
		AnalysedAt: now,
	}
}

func leafletForTest(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "site", "node_modules", "leaflet", "dist")
	if _, err := os.Stat(filepath.Join(dir, "leaflet.js")); err != nil {
		msg := "leaflet is not installed: run scripts/install.sh node (npm ci in site/)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// testRegions loads the regions of cfg (as jobs/publish.go does).
func testRegions(t testing.TB, cfg *config.Config) region.Set {
	t.Helper()
	set, err := region.LoadSet(cfg.Regions)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func testConfig(t testing.TB) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte("publish:\n  title: test site\n  tile_url: \"tiles/{z}/{x}/{y}.png\"\n  page_size: 2\n  days: 7\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
