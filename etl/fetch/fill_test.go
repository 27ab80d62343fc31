package fetch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
	"github.com/osmtrack/osmtrack/etl/sim"
)

func trackedIDs(t *testing.T, db *pgxpool.Pool) []int64 {
	t.Helper()
	var ids []int64
	if err := db.QueryRow(context.Background(), `SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM changesets WHERE tracked`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

// The API fill on an unseeded store, region profile of the simulator: ways and relations whose
// nodes neither the diff nor the store knows are located with the API's multi-fetch, so their
// changesets are kept; the answers are stored (source api) and not asked for again.
func TestAPIFill(t *testing.T) {
	const minutes = 30
	dir := simDir(t, sim.ProfileRegion, minutes)
	srv := simServer(t, dir, sim.Faults{})
	ctx := context.Background()
	regions := simRegion(t, dir)
	run := func(withAPI, meta bool) (*pgxpool.Pool, *osmapi.Client) {
		return fillRun(t, dir, srv.URL, minutes, withAPI, meta)
	}
	plain, _ := run(false, true)
	filled, api := run(true, true)
	without, with := trackedIDs(t, plain), trackedIDs(t, filled)
	for _, id := range without {
		if !slices.Contains(with, id) {
			t.Errorf("changeset %d kept without the API, dropped with it", id)
		}
	}
	if len(with) <= len(without) {
		t.Fatalf("the API fill kept %d changesets, no more than without it (%d)", len(with), len(without))
	}
	requests, _, _ := api.Stats()
	apiRows := count(t, filled, `SELECT count(*) FROM elements WHERE source = 'api'`)
	t.Logf("%d diffs: %d changesets kept without the API, %d with it; %d API requests, %d element versions stored from the API",
		minutes, len(without), len(with), requests, apiRows)
	if apiRows == 0 {
		t.Fatal("no element stored from the API")
	}
	// The budget (docs/fetch.md): at most three requests a diff at this URL length here.
	if requests > 3*minutes {
		t.Errorf("%d API requests for %d diffs", requests, minutes)
	}
	// Every tracked changeset has an extent: its ways' and relations' nodes are located.
	if n := count(t, filled, `SELECT count(*) FROM changesets WHERE tracked AND edit_extent IS NULL`); n > 0 {
		rows, _ := filled.Query(ctx, `SELECT e.changeset, e.type::text, e.id, e.version, e.nodes, e.members::text FROM elements e JOIN changesets c ON c.id = e.changeset WHERE c.tracked AND c.edit_extent IS NULL`)
		for rows.Next() {
			var cs, id int64
			var typ string
			var v int
			var nodes []int64
			var mem *string
			rows.Scan(&cs, &typ, &id, &v, &nodes, &mem)
			t.Log(cs, typ, id, v, nodes, *mem)
		}
		rows.Close()
		t.Errorf("%d tracked changesets without an edit extent (%d without the API)", n,
			count(t, plain, `SELECT count(*) FROM changesets WHERE tracked AND edit_extent IS NULL`))
	}
	// The prefetch: analyse finds every kept version's before-state and the nodes of every
	// kept way in the store (the API answered for all of them), asked for diff by diff instead
	// of changeset by changeset.
	if n := count(t, filled, `SELECT count(*) FROM elements e WHERE e.source = 'diff' AND e.version > 1
		AND NOT EXISTS (SELECT 1 FROM elements p WHERE p.type = e.type AND p.id = e.id AND p.version = e.version - 1)`); n > 0 {
		t.Errorf("%d kept versions without their previous version in the store", n)
	}
	if n := count(t, filled, `SELECT count(*) FROM elements w CROSS JOIN unnest(w.nodes) AS n(id) WHERE w.source = 'diff'
		AND NOT EXISTS (SELECT 1 FROM elements x WHERE x.type = 'n' AND x.id = n.id)`); n > 0 {
		t.Errorf("%d nodes of kept ways not in the store", n)
	}
	prefetched := count(t, filled, `SELECT count(*) FROM elements e WHERE e.source = 'api' AND EXISTS (SELECT 1 FROM elements d
		WHERE d.source = 'diff' AND d.type = e.type AND d.id = e.id AND d.version = e.version + 1)`)
	if prefetched == 0 {
		t.Error("no previous version was prefetched")
	}

	// Nothing is asked twice: applying every diff again asks for nothing the store has.
	fd := newFetcher(filled, srv.URL, regions)
	fd.API = api
	if _, err := fd.Run(ctx, Options{Pointer: "again", FromSeq: simStart, ToSeq: simStart + minutes - 1, Force: true}); err != nil {
		t.Fatal(err)
	}
	again, _, _ := api.Stats()
	if again > requests+requests/10 {
		t.Errorf("re-applying the diffs asked the API %d more times (first pass: %d)", again-requests, requests)
	}
	if got := trackedIDs(t, filled); !slices.Equal(got, with) {
		t.Errorf("re-applying changed the tracked changesets: %d, was %d", len(got), len(with))
	}
}

// A failing API fails the diff like any other fetch failure: an error naming what failed, the
// pointer held, nothing written.
func TestAPIFillFailure(t *testing.T) {
	const minutes = 30
	dir := simDir(t, sim.ProfileRegion, minutes)
	srv := simServer(t, dir, sim.Faults{Status5xxRate: 1, Only: "/api/"})
	ctx := context.Background()
	db := pg(t)
	fd := newFetcher(db, srv.URL, simRegion(t, dir))
	api, err := osmapi.New(osmapi.Options{BaseURL: srv.URL + "/api/0.6/", RequestsPerSecond: 1000, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	fd.API = api
	res, err := fd.Run(ctx, Options{Pointer: "minute", Start: fmt.Sprint(simStart)})
	var se *SeqError
	if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), "API fill") || !strings.Contains(err.Error(), "HTTP 5") {
		t.Fatalf("run: %+v, %v; want a SeqError naming the API fill", res, err)
	}
	t.Log(err)
	if got := pointerSeq(t, db, "minute"); got != int64(se.Seq)-1 {
		t.Errorf("pointer at %d, want %d (held before the failed diff)", got, se.Seq-1)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE seq = $1 OR source = 'api'`, int64(se.Seq)); n != 0 {
		t.Errorf("%d element rows of the failed diff", n)
	}
}

// fillRun applies the simulated minutes to a fresh database, with the metadata feed first
// (meta) and the simulator's API (withAPI).
func fillRun(t *testing.T, dir, url string, minutes int, withAPI, meta bool) (*pgxpool.Pool, *osmapi.Client) {
	t.Helper()
	ctx := context.Background()
	db := pg(t)
	regions := simRegion(t, dir)
	// The metadata first: the changesets' bboxes say which could touch the region.
	if meta {
		if _, err := newCSFetcher(db, url, regions).RunChangesets(ctx, Options{Pointer: "changesets", Start: fmt.Sprint(simStart)}); err != nil {
			t.Fatal(err)
		}
	}
	fd := newFetcher(db, url, regions)
	var c *osmapi.Client
	if withAPI {
		var err error
		c, err = osmapi.New(osmapi.Options{BaseURL: url + "/api/0.6/", RequestsPerSecond: 1000, Burst: 100, MaxURLLength: 2000})
		if err != nil {
			t.Fatal(err)
		}
		fd.API = c
	}
	res, err := fd.Run(ctx, Options{Pointer: "minute", Start: fmt.Sprint(simStart)})
	if err != nil || res.Applied != minutes {
		t.Fatalf("fetch: %+v %v", res, err)
	}
	return db, c
}

// Which changesets could touch a region: known bboxes decide; without metadata, whether the
// metadata feed is past the edit (then it skipped the changeset: its bbox touches no region).
func TestCouldTouch(t *testing.T) {
	db := pg(t)
	ctx := context.Background()
	regions := berlin(t)
	at := baseTime.Add(time.Hour)
	if _, err := db.Exec(ctx, `INSERT INTO changesets (id, meta_seq, bbox) VALUES
			(1, 5, ST_MakeEnvelope(13.3, 52.4, 13.5, 52.6, 4326)), -- inside Berlin
			(2, 5, ST_MakeEnvelope(2.3, 48.8, 2.4, 48.9, 4326)),   -- Paris
			(3, 5, NULL),                                          -- metadata, no bbox yet
			(4, NULL, NULL)                                        -- tracked by a diff, no metadata`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO replication_state (name, feed, seq, seq_timestamp) VALUES ('changesets', 'changesets', 9, $1)`, at); err != nil {
		t.Fatal(err)
	}
	mt := &matcher{f: &Fetcher{Regions: regions}}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	edits := map[int64]time.Time{1: at, 2: at, 3: at, 4: at.Add(-time.Hour), 5: at.Add(-time.Hour), 6: at.Add(-time.Minute)}
	got, err := mt.couldTouch(ctx, tx, func(yield func(int64, time.Time) bool) {
		for id, ts := range edits {
			if !yield(id, ts) {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]touch{1: touchYes, 3: touchUnknown, 4: touchNo, 6: touchUnknown}
	// 2: Paris; 4 and 5: the feed is an hour past their edits and kept no metadata; 6: a
	// minute past, the feed may not have seen it yet.
	for id := range edits {
		if got[id] != want[id] {
			t.Errorf("changeset %d: %d, want %d", id, got[id], want[id])
		}
	}
}

// deletedLaterAPI answers like the OSM API asked long after an edit: the current version of
// every node is its deletion (version 2, no location); version 1 has the location in Berlin.
type deletedLaterAPI struct{ current, versions int }

func (a *deletedLaterAPI) Current(_ context.Context, ids []osm.FeatureID) (osm.Objects, []osm.FeatureID, error) {
	a.current += len(ids)
	var out osm.Objects
	for _, id := range ids {
		if id.Type() == osm.TypeNode {
			out = append(out, &osm.Node{ID: osm.NodeID(id.Ref()), Version: 2, Visible: false, ChangesetID: 30,
				Timestamp: baseTime.Add(time.Hour)})
		}
	}
	return out, nil, nil
}

func (a *deletedLaterAPI) Versions(_ context.Context, ids []osm.ObjectID) (osm.Objects, []osm.ObjectID, error) {
	a.versions += len(ids)
	var out osm.Objects
	for _, id := range ids {
		if id.Type() == osm.TypeNode && id.Version() == 1 {
			out = append(out, &osm.Node{ID: osm.NodeID(id.Ref()), Version: 1, Visible: true, ChangesetID: 1,
				Lat: inLat, Lon: inLon, Timestamp: baseTime.Add(-time.Hour)})
		}
	}
	return out, nil, nil
}

// A fetch behind the present (backfill, catch-up, the recall test's whole day) asks the API
// about an edit whose nodes later changesets deleted: the current answer has no location, so
// the fill asks for the version before the deletion and the tag edit of the way is kept with
// the location its nodes had, stored for filter (the demo day lost 2.9% of its in-region
// changesets this way).
func TestAPIFillNodesDeletedSince(t *testing.T) {
	db := pg(t)
	ctx := context.Background()
	feed := newTestFeed(t)
	feed.add(1, osc(block("modify", way(7, 2, 9, 1, 2, 1))))
	f := newFetcher(db, feed.srv.URL, berlin(t))
	api := &deletedLaterAPI{}
	f.API = api
	if res, err := f.Run(ctx, Options{Pointer: "minute", Start: "1"}); err != nil || res.Applied != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if got := trackedIDs(t, db); !slices.Equal(got, []int64{9}) {
		t.Errorf("tracked changesets %v, want [9] (way 7's nodes were in Berlin when it was edited)", got)
	}
	// Versions: the two nodes before their deletion, and way 7 v1 (the prefetch: its
	// before-state, for analyse).
	if api.current != 2 || api.versions != 3 {
		t.Errorf("asked for %d current and %d versions, want 2 and 3", api.current, api.versions)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'n' AND version = 1 AND source = 'api' AND geom IS NOT NULL`); n != 2 {
		t.Errorf("%d located node versions stored from the API, want 2", n)
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 9 AND edit_extent IS NOT NULL`); n != 1 {
		t.Error("changeset 9 has no edit extent")
	}
}

// liveAPI answers with visible nodes in Berlin and way 7 made of nodes 2 and 3.
type liveAPI struct{ asked []string }

func (a *liveAPI) Current(_ context.Context, ids []osm.FeatureID) (osm.Objects, []osm.FeatureID, error) {
	var out osm.Objects
	for _, id := range ids {
		a.asked = append(a.asked, id.String())
		switch id.Type() {
		case osm.TypeNode:
			out = append(out, &osm.Node{ID: osm.NodeID(id.Ref()), Version: 1, Visible: true, ChangesetID: 1, Lat: inLat, Lon: inLon, Timestamp: baseTime})
		case osm.TypeWay:
			out = append(out, &osm.Way{ID: osm.WayID(id.Ref()), Version: 1, Visible: true, ChangesetID: 1, Timestamp: baseTime,
				Nodes: osm.WayNodes{{ID: 2}, {ID: 3}}})
		}
	}
	return out, nil, nil
}

func (a *liveAPI) Versions(context.Context, []osm.ObjectID) (osm.Objects, []osm.ObjectID, error) {
	return nil, nil, errors.New("no versions asked for here")
}

// A relation kept because the store holds its earlier version (from a diff) is still located:
// its new member way, unknown to the store, is asked for with its nodes, so filter finds the
// edit's location (the demo day's "multipolygon fix" changesets that replaced the members were
// dropped as "no edit locations known" without this).
func TestAPIFillTrackedRelationNewMembers(t *testing.T) {
	db := pg(t)
	ctx := context.Background()
	feed := newTestFeed(t)
	feed.add(1, osc(block("create", node(1, 1, 8, inLat, inLon), relation(5, 1, 8, member("node", 1, "")))))
	feed.add(2, osc(block("modify", relation(5, 2, 9, member("way", 7, "outer")))))
	f := newFetcher(db, feed.srv.URL, berlin(t))
	api := &liveAPI{}
	f.API = api
	if res, err := f.Run(ctx, Options{Pointer: "minute", Start: "1"}); err != nil || res.Applied != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if got := trackedIDs(t, db); !slices.Equal(got, []int64{8, 9}) {
		t.Errorf("tracked changesets %v, want [8 9]", got)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'w' AND id = 7 AND source = 'api' AND nodes = '{2,3}'`); n != 1 {
		t.Errorf("member way 7 not stored from the API (asked: %v)", api.asked)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'n' AND id IN (2, 3) AND source = 'api' AND geom IS NOT NULL`); n != 2 {
		t.Errorf("%d of way 7's nodes located from the API, want 2 (asked: %v)", n, api.asked)
	}
}

// membersAPI answers way 7 v2 (nodes 2 and 3, in Berlin) and way 8 v2 (nodes 4 and 5, in
// Paris): the current versions, which a diff after the one asking edits.
type membersAPI struct{}

func (membersAPI) Current(_ context.Context, ids []osm.FeatureID) (osm.Objects, []osm.FeatureID, error) {
	var out osm.Objects
	for _, id := range ids {
		switch id.Type() {
		case osm.TypeNode:
			lat, lon := inLat, inLon
			if id.Ref() >= 4 {
				lat, lon = outLat, outLon
			}
			out = append(out, &osm.Node{ID: osm.NodeID(id.Ref()), Version: 1, Visible: true, ChangesetID: 1, Lat: lat, Lon: lon, Timestamp: baseTime})
		case osm.TypeWay:
			nodes := osm.WayNodes{{ID: 2}, {ID: 3}}
			if id.Ref() == 8 {
				nodes = osm.WayNodes{{ID: 4}, {ID: 5}}
			}
			out = append(out, &osm.Way{ID: osm.WayID(id.Ref()), Version: 2, Visible: true, ChangesetID: 1, Timestamp: baseTime, Nodes: nodes})
		}
	}
	return out, nil, nil
}

func (membersAPI) Versions(context.Context, []osm.ObjectID) (osm.Objects, []osm.ObjectID, error) {
	return nil, nil, nil
}

// A version the API answered for (a relation's member way, asked for its location) and that a
// later diff edits: inside a region the diff's word takes over (action, seq, source diff) and its
// changeset is tracked; outside every region the diff's version is not kept and the row stays
// the API's (no action, source api), as for any edit outside the regions. (A report from the
// Monaco simulation, way/93207286 v3 stored with source api after a diff modified it: that way
// lies north of the Monaco region, so this is the second case.)
func TestAPIVersionThenDiff(t *testing.T) {
	db := pg(t)
	ctx := context.Background()
	feed := newTestFeed(t)
	feed.add(1, osc(block("modify", relation(5, 2, 8, member("way", 7, "outer"), member("way", 8, "outer")))))
	feed.add(2, osc(block("modify", way(7, 2, 9, 2, 3), way(8, 2, 10, 4, 5))))
	f := newFetcher(db, feed.srv.URL, berlin(t))
	f.API = membersAPI{}
	if res, err := f.Run(ctx, Options{Pointer: "minute", Start: "1"}); err != nil || res.Applied != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if got := trackedIDs(t, db); !slices.Equal(got, []int64{8, 9}) {
		t.Errorf("tracked changesets %v, want [8 9]", got)
	}
	for _, tc := range []struct {
		id                   int64
		source, action, seqs string
	}{
		{7, "diff", "modify", "2"},
		{8, "api", "", ""},
	} {
		var source, action, seq string
		if err := db.QueryRow(ctx, `SELECT source, coalesce(action, ''), coalesce(seq::text, '') FROM elements
			WHERE type = 'w' AND id = $1 AND version = 2`, tc.id).Scan(&source, &action, &seq); err != nil {
			t.Fatalf("way %d v2: %v", tc.id, err)
		}
		if source != tc.source || action != tc.action || seq != tc.seqs {
			t.Errorf("way %d v2: source %s, action %q, seq %q; want %s, %q, %q", tc.id, source, action, seq, tc.source, tc.action, tc.seqs)
		}
	}
}

// A changeset download (analyse) stores a kept changeset's versions wherever they lie: a node
// outside every region held so does not keep a later edit of it (it did: the row counted as
// tracked, and fetch kept out-of-region edits of anything a downloaded changeset had touched),
// while one inside does by its location; a diff's kept version takes over a downloaded one.
func TestDownloadRowsDoNotTrack(t *testing.T) {
	db := pg(t)
	ctx := context.Background()
	dl := []elements.Element{
		{Type: elements.Node, ID: 1, Version: 1, Changeset: 7, Timestamp: baseTime, Visible: true, HasCoords: true, Lat: outLat, Lon: outLon},
		{Type: elements.Node, ID: 2, Version: 1, Changeset: 7, Timestamp: baseTime, Visible: true, HasCoords: true, Lat: inLat, Lon: inLon},
		{Type: elements.Node, ID: 3, Version: 2, Changeset: 7, Timestamp: baseTime, Visible: true, HasCoords: true, Lat: inLat, Lon: inLon},
	}
	if err := (elements.PG{DB: db}).Write(ctx, dl, elements.SourceDownload, 0, false); err != nil {
		t.Fatal(err)
	}
	feed := newTestFeed(t)
	feed.add(1, osc(block("modify", node(1, 2, 8, outLat+0.1, outLon), way(5, 2, 9, 2, 99), node(3, 2, 7, inLat, inLon))))
	f := newFetcher(db, feed.srv.URL, berlin(t))
	if res, err := f.Run(ctx, Options{Pointer: "minute", Start: "1"}); err != nil || res.Applied != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if got := trackedIDs(t, db); !slices.Equal(got, []int64{7, 9}) {
		t.Errorf("tracked changesets %v, want [7 9] (8 moved a node outside the regions)", got)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'n' AND id = 3 AND version = 2 AND source = 'diff' AND seq = 1 AND action = 'modify'`); n != 1 {
		t.Error("node 3 v2: the diff's version did not take over the download's")
	}
}
