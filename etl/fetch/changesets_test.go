package fetch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestChangesetFeedReal(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	feed.addChangesets(1, gunzipT(t, readShared(t, "changeset-replication/245.osm.gz")))
	feed.addChangesets(2, gunzipT(t, readShared(t, "changeset-replication/999.osm.gz")))
	feed.addChangesets(3, gunzipT(t, readShared(t, "changeset-replication/011.osm.gz")))
	feed.addChangesets(4, readShared(t, "changeset-replication/363.osm"))
	feed.addChangesets(5, readShared(t, "changeset-replication/996.osm"))
	f := newCSFetcher(db, feed.srv.URL, nil)
	ctx := context.Background()
	res, err := f.RunChangesets(ctx, Options{Pointer: "changesets", Start: "1"})
	if err != nil || res.Applied != 5 || res.Pointer != 5 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE meta_seq = 1`); n != 25 {
		t.Fatalf("245.osm.gz: %d changesets", n)
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE meta_seq = 2`); n != 27 {
		t.Fatalf("999.osm.gz: %d changesets", n)
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id BETWEEN 46455028 AND 46455034`); n != 7 {
		t.Fatalf("011.osm.gz: %d changesets", n)
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 31982803 AND username = 'GarrettB' AND uid = 352373
		AND tags->>'comment' = 'Added Emerald Pool Waterfall' AND NOT open AND changes_count = 4 AND comments_count = 0
		AND ST_XMin(bbox) = -71.0646843 AND ST_XMax(bbox) = -71.0048652 AND ST_YMin(bbox) = 44.2371354 AND ST_YMax(bbox) = 44.2430624
		AND created_at = '2015-06-15T12:32:11Z' AND closed_at = '2015-06-15T13:34:33Z' AND NOT tracked AND state = 'new'`); n != 1 {
		t.Fatal("changeset 31982803 not stored as expected")
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 46455034 AND bbox IS NULL`); n != 1 {
		t.Fatal("empty changeset 46455034 has a bbox")
	}
	// An older file never overwrites newer metadata: re-read file 1 under another pointer after
	// pretending a newer file changed a changeset.
	db.Exec(ctx, `UPDATE changesets SET meta_seq = 9, username = 'renamed' WHERE id = 31982803`)
	if _, err := f.RunChangesets(ctx, Options{Pointer: "cs-backfill", FromSeq: 1, ToSeq: 1}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 31982803 AND username = 'renamed'`); n != 1 {
		t.Fatal("older metadata overwrote newer")
	}
}

func TestChangesetFeedBadFile(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	feed.addChangesets(1, []byte(`<osm><changeset id="1" created_at="2026-01-01T00:00:00Z"/></osm>`))
	feed.addChangesets(2, []byte(`<osm><changeset id="2" created_at="2026-01-01T00:00:00Z"></osm>`))
	f := newCSFetcher(db, feed.srv.URL, nil)
	_, err := f.RunChangesets(context.Background(), Options{Pointer: "changesets", Start: "1"})
	if err == nil || !strings.Contains(err.Error(), "changesets seq 2 ("+feed.srv.URL+"/replication/changesets/000/000/002.osm.gz): parse: line 1: XML syntax error") {
		t.Fatalf("got %v", err)
	}
	if p := pointerSeq(t, db, "changesets"); p != 1 {
		t.Fatalf("pointer at %d", p)
	}
}

// Metadata may arrive before or after the elements: both orders give the same row.
func TestChangesetMetadataEitherOrder(t *testing.T) {
	meta := []byte(`<osm version="0.6">
  <changeset id="500" created_at="2026-01-01T00:00:00Z" closed_at="2026-01-01T00:05:00Z" open="false" num_changes="1" user="tester" uid="7"
    min_lat="52.5" max_lat="52.53" min_lon="13.39" max_lon="13.41" comments_count="2"><tag k="comment" v="Café &amp; more"/></changeset>
  <changeset id="600" created_at="2026-01-01T00:00:00Z" open="true" user="far" uid="8" min_lat="48.8" max_lat="48.9" min_lon="2.3" max_lon="2.4"/>
  <changeset id="601" created_at="2026-01-01T00:00:00Z" open="true" user="near" uid="9" min_lat="52.0" max_lat="53.0" min_lon="13.0" max_lon="14.0"/>
</osm>`)
	diff := osc(block("create", node(1, 1, 500, inLat, inLon)))
	run := func(metaFirst bool) map[string]string {
		db := pg(t)
		feed := newTestFeed(t)
		feed.add(100, diff)
		feed.addChangesets(1, meta)
		ctx := context.Background()
		fd := newFetcher(db, feed.srv.URL, berlin(t))
		fc := newCSFetcher(db, feed.srv.URL, berlin(t))
		steps := []func() error{
			func() error { _, err := fd.Run(ctx, Options{Pointer: "minute", Start: "head"}); return err },
			func() error {
				_, err := fc.RunChangesets(ctx, Options{Pointer: "changesets", Start: "head"})
				return err
			},
		}
		if metaFirst {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			if err := s(); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 500 AND tracked AND username = 'tester' AND comments_count = 2 AND tags->>'comment' = 'Café & more' AND num_create = 1`); n != 1 {
			t.Fatalf("metaFirst=%v: changeset 500 not merged", metaFirst)
		}
		// 600 (Paris, untracked) is not kept; 601 (bbox over Berlin) is.
		if n := count(t, db, `SELECT count(*) FROM changesets WHERE id IN (600, 601)`); n != 1 {
			t.Fatalf("metaFirst=%v: %d of 600/601 kept", metaFirst, n)
		}
		return checksums(t, db)
	}
	a, b := run(false), run(true)
	for k := range a {
		if a[k] != b[k] {
			t.Errorf("%s differs by order: %s vs %s", k, a[k], b[k])
		}
	}
}

// A changeset the filter handled before its metadata arrived goes back to the filter when the
// metadata comes; later metadata updates leave its state alone.
func TestLateMetadataRefilters(t *testing.T) {
	db := pg(t)
	ctx := context.Background()
	db.Exec(ctx, `INSERT INTO changesets (id, tracked, state, state_reason) VALUES (31982803, true, 'dropped', 'no label'), (31984152, true, 'filtered', NULL)`)
	db.Exec(ctx, `UPDATE changesets SET meta_seq = 0 WHERE id = 31984152`)
	feed := newTestFeed(t)
	feed.addChangesets(1, gunzipT(t, readShared(t, "changeset-replication/245.osm.gz")))
	f := newCSFetcher(db, feed.srv.URL, nil)
	if _, err := f.RunChangesets(ctx, Options{Pointer: "changesets", Start: "1"}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 31982803 AND state = 'new' AND username = 'GarrettB'`); n != 1 {
		t.Fatal("late metadata did not send the dropped changeset back to the filter")
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 31984152 AND state = 'filtered'`); n != 1 {
		t.Fatal("a metadata update changed the state of a changeset that already had metadata")
	}
}

// The pointer carries the replication time of the file it points at: the file's own state
// (AAA/BBB/CCC.state.txt) below head, state.yaml's last_run at head; a file without a state file
// (the planet's oldest) is still applied, without a timestamp.
func TestChangesetPointerTimestamp(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	at := func(seq uint64) time.Time {
		return baseTime.Add(time.Duration(seq) * time.Minute).Add(1500 * time.Millisecond)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		feed.addChangesets(seq, []byte(fmt.Sprintf(`<osm><changeset id="%d" created_at="2026-01-01T00:00:00Z" open="true"/></osm>`, seq)))
		if seq > 1 {
			feed.addChangesetState(seq, at(seq))
		}
	}
	feed.csTime = at(3).Add(2 * time.Second) // the head's last_run, not its state file's
	f := newCSFetcher(db, feed.srv.URL, nil)
	ctx := context.Background()
	pointerTS := func(name string) *time.Time {
		t.Helper()
		var ts *time.Time
		if err := db.QueryRow(ctx, `SELECT seq_timestamp FROM replication_state WHERE name = $1`, name).Scan(&ts); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	// File 1 has no state file.
	if _, err := f.RunChangesets(ctx, Options{Pointer: "changesets", Start: "1", ToSeq: 1}); err != nil {
		t.Fatal(err)
	}
	if ts := pointerTS("changesets"); ts != nil {
		t.Errorf("file 1 without a state file: seq_timestamp %v", ts)
	}
	// File 2: its state file's last_run.
	if _, err := f.RunChangesets(ctx, Options{Pointer: "changesets", ToSeq: 2}); err != nil {
		t.Fatal(err)
	}
	if ts := pointerTS("changesets"); ts == nil || !ts.Equal(at(2)) {
		t.Errorf("file 2: seq_timestamp %v, want %v", ts, at(2))
	}
	// File 3, the head: state.yaml's last_run.
	res, err := f.RunChangesets(ctx, Options{Pointer: "changesets"})
	if err != nil || res.Pointer != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	if ts := pointerTS("changesets"); ts == nil || !ts.Equal(feed.csTime) {
		t.Errorf("head file 3: seq_timestamp %v, want %v", ts, feed.csTime)
	}
	// A state file that cannot be read fails the file (and names it); the pointer stays.
	feed.addChangesets(4, []byte(`<osm><changeset id="4" created_at="2026-01-01T00:00:00Z" open="true"/></osm>`))
	feed.addChangesets(5, []byte(`<osm><changeset id="5" created_at="2026-01-01T00:00:00Z" open="true"/></osm>`))
	feed.mu.Lock()
	feed.files["/replication/changesets/000/000/004.state.txt"] = []byte("---\nsequence: 3\n")
	feed.mu.Unlock()
	_, err = f.RunChangesets(ctx, Options{Pointer: "changesets"})
	if err == nil || !strings.Contains(err.Error(), "changesets seq 4") || !strings.Contains(err.Error(), "no last_run") {
		t.Fatalf("bad state file: %v", err)
	}
	if p := pointerSeq(t, db, "changesets"); p != 3 {
		t.Fatalf("pointer at %d", p)
	}
}
