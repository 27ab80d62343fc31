package filter

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
)

var ctx = context.Background()

// berlin is a box around Berlin; real outlines are tested in etl/region.
func berlin(t testing.TB) region.Set {
	r, err := region.New("berlin", "test", orb.MultiPolygon{{{{13.09, 52.34}, {13.76, 52.34}, {13.76, 52.68}, {13.09, 52.68}, {13.09, 52.34}}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return region.Set{r}
}

func ruleSet(t testing.TB, src string, regions region.Set) *rules.Set {
	t.Helper()
	s, err := rules.Parse([]byte(src), "rules.yaml", regions)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func exec(t testing.TB, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// addChangeset inserts a changeset with metadata and a bbox.
func addChangeset(t testing.TB, db *pgxpool.Pool, id int64, tracked bool, bbox *orb.Bound, tags string) {
	t.Helper()
	var x0, y0, x1, y1 *float64
	if bbox != nil {
		x0, y0, x1, y1 = &bbox.Min[0], &bbox.Min[1], &bbox.Max[0], &bbox.Max[1]
	}
	exec(t, db, `INSERT INTO changesets (id, username, uid, created_at, open, comments_count, changes_count, tags, bbox, meta_seq, meta_updated_at, tracked)
		VALUES ($1::bigint, 'u'||$1::text, $1::bigint, now(), false, 0, 1, $2::jsonb,
			CASE WHEN $3::float8 IS NULL THEN NULL ELSE ST_MakeEnvelope($3, $4, $5, $6, 4326) END, 1, now(), $7)`,
		id, tags, x0, y0, x1, y1, tracked)
}

func addNode(t testing.TB, db *pgxpool.Pool, cs, id int64, version int, action string, lon, lat *float64, tags string) {
	t.Helper()
	exec(t, db, `INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, geom)
		VALUES ('n', $1, $2, $3, now(), $4 <> 'delete', $4, $5::jsonb,
			CASE WHEN $6::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($6, $7), 4326) END)`,
		id, version, cs, action, tags, lon, lat)
}

func f64(f float64) *float64 { return &f }

type labelRow struct {
	label, source string
	evidence      rules.Label
}

func labelsOf(t testing.TB, db *pgxpool.Pool, cs int64) map[string]labelRow {
	t.Helper()
	rows, err := db.Query(ctx, `SELECT label, source, evidence FROM changeset_labels WHERE changeset_id = $1`, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]labelRow{}
	for rows.Next() {
		var r labelRow
		var ev []byte
		if err := rows.Scan(&r.label, &r.source, &ev); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ev, &r.evidence); err != nil {
			t.Fatal(err)
		}
		out[r.label] = r
	}
	return out
}

func stateOf(t testing.TB, db *pgxpool.Pool, cs int64) (string, string) {
	t.Helper()
	var state string
	var reason *string
	if err := db.QueryRow(ctx, `SELECT state, state_reason FROM changesets WHERE id = $1`, cs).Scan(&state, &reason); err != nil {
		t.Fatal(err)
	}
	if reason == nil {
		return state, ""
	}
	return state, *reason
}

func TestTwoRunsAtOnceFilterEachChangesetOnce(t *testing.T) {
	db := dbtest.PG(t).Pool
	// 5,000 waiting changesets: the even ones edited a node inside Berlin, the odd ones outside.
	exec(t, db, `INSERT INTO changesets (id, username, uid, created_at, open, tags, bbox, meta_seq, meta_updated_at, tracked)
		SELECT g, 'u'||g, g, now(), false, '{"comment":"x"}', ST_MakeEnvelope(13.4, 52.5, 13.41, 52.51, 4326), 1, now(), true
		FROM generate_series(1, 5000) g`)
	exec(t, db, `INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, geom)
		SELECT 'n', g, 1, g, now(), true, 'create', '{}',
			ST_SetSRID(ST_MakePoint(CASE WHEN g % 2 = 0 THEN 13.4 ELSE 2.35 END, 52.5), 4326)
		FROM generate_series(1, 5000) g`)
	set := ruleSet(t, "labels:\n  - label: in-berlin\n    region: berlin\n", berlin(t))
	var wg sync.WaitGroup
	stats := make([]Stats, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := &Filter{DB: db, Rules: set}
			stats[i], errs[i] = f.Run(ctx, Options{MetadataWait: 10 * time.Minute, BatchSize: 50})
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
	}
	total := stats[0].Total() + stats[1].Total()
	if total != 5000 {
		t.Errorf("the two runs handled %d + %d = %d changesets, want 5000 (each exactly once)", stats[0].Total(), stats[1].Total(), total)
	}
	if stats[0].Filtered+stats[1].Filtered != 2500 {
		t.Errorf("filtered %d, want 2500", stats[0].Filtered+stats[1].Filtered)
	}
	var n, labels int
	db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'new'), (SELECT count(*) FROM changeset_labels) FROM changesets`).Scan(&n, &labels)
	if n != 0 || labels != 2500 {
		t.Errorf("%d changesets still new, %d labels; want 0 and 2500", n, labels)
	}
	t.Logf("run A: %+v, run B: %+v", stats[0], stats[1])
}

func TestContinentBBoxEditsOutside(t *testing.T) {
	db := dbtest.PG(t).Pool
	set := ruleSet(t, `
labels:
  - label: edits
    description: edited something in Berlin
    region: berlin
  - label: bbox
    region: berlin
    match: bbox
`, berlin(t))
	europe := &orb.Bound{Min: orb.Point{-9.5, 36}, Max: orb.Point{30, 60}}
	addChangeset(t, db, 1, true, europe, `{"comment":"fixes"}`)
	addNode(t, db, 1, 10, 1, "create", f64(-9.14), f64(38.72), `{}`) // Lisbon
	addNode(t, db, 1, 11, 1, "create", f64(30.0), f64(59.9), `{}`)   // St Petersburg
	addChangeset(t, db, 2, true, europe, `{}`)
	addNode(t, db, 2, 12, 1, "create", f64(-9.14), f64(38.72), `{}`)
	addNode(t, db, 2, 13, 1, "create", f64(13.40), f64(52.52), `{}`) // Berlin

	st, err := (&Filter{DB: db, Rules: set}).Run(ctx, Options{MetadataWait: time.Minute, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if st.Filtered != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v", st)
	}
	l1 := labelsOf(t, db, 1)
	if _, ok := l1["edits"]; ok || len(l1) != 1 {
		t.Errorf("changeset 1 labels %v: want only bbox (edits all outside)", l1)
	}
	if ev := l1["bbox"].evidence.Evidence; len(ev) != 1 || !strings.Contains(ev[0].Detail, "intersects berlin") || l1["bbox"].source != "filter" {
		t.Errorf("bbox evidence %+v", l1["bbox"])
	}
	if s, r := stateOf(t, db, 1); s != "dropped" || r != "none of 2 edit locations is inside a region" {
		t.Errorf("changeset 1: %s (%s)", s, r)
	}
	l2 := labelsOf(t, db, 2)
	e := l2["edits"].evidence
	if len(l2) != 2 || e.Description != "edited something in Berlin" || !strings.Contains(e.Evidence[0].Detail, "1 of 2 edit locations inside berlin, first node/13 v1") {
		t.Errorf("changeset 2 labels %+v", l2)
	}
	if s, r := stateOf(t, db, 2); s != "filtered" || !strings.Contains(r, "edit inside region berlin") {
		t.Errorf("changeset 2: %s (%s)", s, r)
	}

	// New elements arrive (fetch sets it back to new): filtered again, labels replaced, not doubled.
	exec(t, db, `UPDATE changesets SET state = 'new' WHERE id = 1`)
	addNode(t, db, 1, 14, 1, "create", f64(13.5), f64(52.5), `{}`)
	if _, err := (&Filter{DB: db, Rules: set}).Run(ctx, Options{BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	if l := labelsOf(t, db, 1); len(l) != 2 {
		t.Errorf("after new elements: labels %v, want bbox and edits", l)
	}
	if s, _ := stateOf(t, db, 1); s != "filtered" {
		t.Errorf("after new elements: %s", s)
	}
}

func TestReadiness(t *testing.T) {
	db := dbtest.PG(t).Pool
	set := ruleSet(t, "labels: []\n", berlin(t))
	// No metadata, first seen just now: waits. No metadata, first seen 20 minutes ago: goes.
	exec(t, db, `INSERT INTO changesets (id, tracked, first_seen) VALUES (1, true, now()), (2, true, now() - interval '20 minutes')`)
	addNode(t, db, 1, 1, 1, "create", f64(13.4), f64(52.5), `{}`)
	addNode(t, db, 2, 2, 1, "create", f64(13.4), f64(52.5), `{}`)
	// Not tracked, bbox far from every region: dropped without rules. Not tracked but the bbox
	// touches Berlin's: evaluated.
	addChangeset(t, db, 3, false, &orb.Bound{Min: orb.Point{2.3, 48.8}, Max: orb.Point{2.4, 48.9}}, `{}`)
	addChangeset(t, db, 4, false, &orb.Bound{Min: orb.Point{13.3, 52.4}, Max: orb.Point{13.4, 52.5}}, `{}`)
	st, err := (&Filter{DB: db, Rules: set}).Run(ctx, Options{MetadataWait: 10 * time.Minute, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if st.Outside != 1 || st.Filtered != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v: want 1 outside, 1 filtered (2), 1 dropped (4: no edits)", st)
	}
	for id, want := range map[int64]string{1: "new", 2: "filtered", 3: "dropped", 4: "dropped"} {
		if s, r := stateOf(t, db, id); s != want {
			t.Errorf("changeset %d: %s (%s), want %s", id, s, r, want)
		}
	}
	if _, r := stateOf(t, db, 3); r != ReasonOutside {
		t.Errorf("changeset 3 reason %q", r)
	}
}

func TestOldVersionsAndWayNodesFromTheStore(t *testing.T) {
	db := dbtest.PG(t).Pool
	set := ruleSet(t, `
labels:
  - label: deleted-address-node
    element: {action: delete, type: node, key: '^addr:', old: true}
  - label: in-berlin
    region: berlin
`, berlin(t))
	// Node 100 v1 with an address (changeset 10, already done), deleted in changeset 11 (no location).
	addChangeset(t, db, 10, true, nil, `{}`)
	exec(t, db, `UPDATE changesets SET state = 'done' WHERE id = 10`)
	addNode(t, db, 10, 100, 1, "create", f64(13.40), f64(52.52), `{"addr:street":"Unter den Linden","addr:housenumber":"1"}`)
	addChangeset(t, db, 11, true, nil, `{}`)
	addNode(t, db, 11, 100, 2, "delete", nil, nil, `{}`)
	// Changeset 12 modifies only a way whose nodes the store knows (from changeset 10).
	addNode(t, db, 10, 101, 1, "create", f64(13.41), f64(52.52), `{}`)
	addChangeset(t, db, 12, true, nil, `{}`)
	exec(t, db, `INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, nodes)
		VALUES ('w', 7, 2, 12, now(), true, 'modify', '{"highway":"residential"}', '{100,101}')`)
	// Changeset 13 changes only a tag of a relation whose member way 7 the store knows; node 102,
	// a member too, was located by the API.
	addNode(t, db, 9, 102, 4, "modify", f64(13.42), f64(52.52), `{}`)
	exec(t, db, `UPDATE elements SET source = 'api', action = NULL WHERE type = 'n' AND id = 102`)
	exec(t, db, `UPDATE elements SET source = 'seed' WHERE type = 'n' AND id = 101`)
	addChangeset(t, db, 13, true, nil, `{}`)
	exec(t, db, `INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, members, source)
		VALUES ('r', 30, 2, 13, now(), true, 'modify', '{"type":"route"}',
			'[{"type":"n","ref":102,"role":"stop"},{"type":"w","ref":7,"role":""}]', 'diff')`)

	if _, err := (&Filter{DB: db, Rules: set}).Run(ctx, Options{BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	l := labelsOf(t, db, 11)
	d := l["deleted-address-node"].evidence.Evidence
	if len(d) != 1 || d[0].Detail != "node/100 v2 (delete) had addr:housenumber=1 in its previous version v1" || d[0].Element != "node/100 v2" {
		t.Errorf("deleted-address-node evidence %+v", d)
	}
	if e := l["in-berlin"].evidence.Evidence; len(e) != 1 || !strings.Contains(e[0].Detail, "node/100 v2 (previous location)") {
		t.Errorf("a deleted node's previous location counts as an edit location: %+v", l["in-berlin"])
	}
	w := labelsOf(t, db, 12)["in-berlin"].evidence.Evidence
	if len(w) != 1 || !strings.Contains(w[0].Detail, "2 of 2 edit locations inside berlin, first node/100 of way/7") {
		t.Errorf("way node evidence %+v", w)
	}
	if s, _ := stateOf(t, db, 10); s != "done" {
		t.Errorf("changeset 10 is %s: a normal run must not touch other states", s)
	}
	// The relation's edit locations: its member node and its member way's nodes, each naming
	// where its location came from.
	if s, r := stateOf(t, db, 13); s != "filtered" || !strings.Contains(r, "node/102, member of relation/30 at 52.52000,13.42000, location from api") {
		t.Errorf("relation tag change: %s %q", s, r)
	}
	w = labelsOf(t, db, 13)["in-berlin"].evidence.Evidence
	if len(w) != 1 || !strings.Contains(w[0].Detail, "3 of 3 edit locations inside berlin") {
		t.Errorf("relation evidence %+v", w)
	}
	var ev string
	if err := db.QueryRow(ctx, `SELECT evidence::text FROM changeset_labels WHERE changeset_id = 12`).Scan(&ev); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ev, "node/100 of way/7 at 52.52000,13.40000, location from api") {
		t.Errorf("way node evidence without where its location came from: %s", ev)
	}
}

func TestRefilter(t *testing.T) {
	db := dbtest.PG(t).Pool
	regions := berlin(t)
	old := ruleSet(t, "labels:\n  - label: old-label\n    comment: {contains: fix}\nprefilter: old-label\n", regions)
	addChangeset(t, db, 1, true, nil, `{"comment":"fix typo"}`)
	addChangeset(t, db, 2, true, nil, `{"comment":"import"}`)
	addChangeset(t, db, 3, true, nil, `{"comment":"fix and import"}`)
	if _, err := (&Filter{DB: db, Rules: old}).Run(ctx, Options{BatchSize: 1}); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE changesets SET state = 'analysed', state_reason = 'kept' WHERE id = 3`)
	newer := ruleSet(t, "labels:\n  - label: import\n    comment: {contains: import}\nprefilter: import\n", regions)
	// A normal run finds nothing to do.
	st, err := (&Filter{DB: db, Rules: newer}).Run(ctx, Options{BatchSize: 1})
	if err != nil || st.Total() != 0 {
		t.Fatalf("normal run: %+v %v", st, err)
	}
	st, err = (&Filter{DB: db, Rules: newer}).Run(ctx, Options{BatchSize: 1, Refilter: true, Since: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Total() != 3 || st.Batches != 3 {
		t.Errorf("refilter stats %+v", st)
	}
	for id, want := range map[int64]struct{ state, labels string }{
		1: {"dropped", ""}, 2: {"filtered", "import"}, 3: {"analysed", "import"},
	} {
		s, _ := stateOf(t, db, id)
		var names []string
		for n := range labelsOf(t, db, id) {
			names = append(names, n)
		}
		if s != want.state || strings.Join(names, ",") != want.labels {
			t.Errorf("changeset %d: %s %v, want %s [%s]", id, s, names, want.state, want.labels)
		}
	}
	if _, r := stateOf(t, db, 3); r != "kept" {
		t.Errorf("an analysed changeset keeps its state_reason, got %q", r)
	}
	// Since in the future: nothing.
	st, _ = (&Filter{DB: db, Rules: newer}).Run(ctx, Options{Refilter: true, Since: time.Now().Add(time.Hour)})
	if st.Total() != 0 {
		t.Errorf("refilter since the future: %+v", st)
	}
}

func TestMaxDuration(t *testing.T) {
	db := dbtest.PG(t).Pool
	exec(t, db, `INSERT INTO changesets (id, tracked, meta_seq) SELECT g, true, 1 FROM generate_series(1, 30) g`)
	clock := time.Unix(0, 0)
	f := &Filter{DB: db, Rules: ruleSet(t, "labels: []\n", nil), Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	st, err := f.Run(ctx, Options{BatchSize: 10, MaxDuration: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st.Batches != 1 || st.Filtered != 10 {
		t.Errorf("stats %+v: want one batch before the deadline", st)
	}
}
