package elements

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// world is a small history: node 1 moved then deleted, node 2 at (0, 0) (a real location),
// way 10 over nodes 1 and 2 (then over 2 and 3), relation 20 with the way and node 2.
func world() []Element {
	return []Element{
		{Action: Create, Type: Node, ID: 1, Version: 1, Changeset: 100, Timestamp: t0, UID: 7, User: "ann", Visible: true,
			HasCoords: true, Lat: 53.5, Lon: 10.0, Tags: []Tag{{"amenity", "cafe"}, {"name", "Zé \"Café\""}}},
		{Action: Modify, Type: Node, ID: 1, Version: 2, Changeset: 101, Timestamp: t0.Add(time.Hour), UID: 7, User: "ann", Visible: true,
			HasCoords: true, Lat: 53.6, Lon: 10.1},
		{Action: Delete, Type: Node, ID: 1, Version: 3, Changeset: 102, Timestamp: t0.Add(2 * time.Hour), UID: 8, User: "bob"},
		{Action: Create, Type: Node, ID: 2, Version: 1, Changeset: 100, Timestamp: t0, Visible: true, HasCoords: true},
		{Type: Way, ID: 10, Version: 1, Changeset: 100, Timestamp: t0, Visible: true, Nodes: []int64{1, 2}, Tags: []Tag{{"highway", "residential"}}},
		{Type: Way, ID: 10, Version: 2, Changeset: 102, Timestamp: t0.Add(2 * time.Hour), Visible: true, Nodes: []int64{2, 3}},
		{Type: Way, ID: 11, Version: 1, Changeset: 103, Timestamp: t0, Visible: true},
		{Type: Relation, ID: 20, Version: 4, Changeset: 103, Timestamp: t0, Visible: true,
			Members: []Member{{Way, 10, "outer"}, {Node, 2, ""}}, Tags: []Tag{{"type", "multipolygon"}}},
	}
}

// stores runs f against the in-memory store and the PostGIS one (when the services are up).
func stores(t *testing.T, f func(t *testing.T, s Store)) {
	t.Run("mem", func(t *testing.T) { f(t, &Mem{}) })
	t.Run("pg", func(t *testing.T) { f(t, PG{DB: dbtest.PG(t).Pool}) })
}

func norm(es []Element) []Element {
	out := make([]Element, len(es))
	for i, e := range es {
		e.Tags = nil // jsonb does not keep key order: tags are compared as maps
		out[i] = e
	}
	return out
}

func sameElements(t *testing.T, what string, got, want []Element) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d versions, want %d:\n%+v", what, len(got), len(want), got)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].TagMap(), want[i].TagMap()) {
			t.Errorf("%s: %s tags %v, want %v", what, want[i].Ref(), got[i].TagMap(), want[i].TagMap())
		}
	}
	g, w := norm(got), norm(want)
	for i := range g {
		if len(w[i].Nodes) == 0 && w[i].Type == Way {
			w[i].Nodes = g[i].Nodes // nil and {} are both "no nodes"
		}
		if !reflect.DeepEqual(g[i], w[i]) {
			t.Errorf("%s: got\n%+v\nwant\n%+v", what, g[i], w[i])
		}
	}
}

func TestStore(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		w := world()
		if err := s.Write(ctx, w[:3], SourceDiff, 42, false); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, w[3:], SourceAPI, 0, false); err != nil {
			t.Fatal(err)
		}
		want := world()
		for i := range want {
			want[i].Source = SourceAPI
			if i < 3 {
				want[i].Source, want[i].Seq = SourceDiff, 42
			}
		}
		// A version already held is kept...
		changed := w[0]
		changed.Tags, changed.Lat = nil, 1
		if err := s.Write(ctx, []Element{changed}, SourceSeed, 0, false); err != nil {
			t.Fatal(err)
		}
		got, err := s.History(ctx, []Key{{Node, 1}, {Node, 2}, {Way, 10}, {Way, 11}, {Relation, 20}, {Relation, 99}})
		if err != nil {
			t.Fatal(err)
		}
		sameElements(t, "history", got, want)

		got, err = s.Versions(ctx, []VKey{{Node, 1, 2}, {Way, 10, 3}, {Relation, 20, 4}})
		if err != nil {
			t.Fatal(err)
		}
		Sort(got)
		sameElements(t, "versions", got, []Element{want[1], want[7]})

		got, err = s.Latest(ctx, []Key{{Node, 1}, {Way, 10}, {Way, 10}, {Way, 12}})
		if err != nil {
			t.Fatal(err)
		}
		sameElements(t, "latest", got, []Element{want[2], want[5]})

		prev, err := s.Previous(ctx, []VKey{{Node, 1, 3}, {Node, 1, 1}, {Way, 10, 5}, {Relation, 20, 4}})
		if err != nil {
			t.Fatal(err)
		}
		if len(prev) != 2 || prev[VKey{Node, 1, 3}].Version != 2 || prev[VKey{Way, 10, 5}].Version != 2 {
			t.Errorf("previous: %+v", prev)
		}

		known, err := s.Known(ctx, []Key{{Node, 1}, {Node, 3}, {Way, 11}, {Relation, 20}, {Relation, 10}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(known, map[Key]bool{{Node, 1}: true, {Way, 11}: true, {Relation, 20}: true}) {
			t.Errorf("known: %v", known)
		}
		known, err = s.Known(ctx, []Key{{Node, 1}, {Node, 3}, {Way, 11}, {Relation, 20}, {Relation, 10}}, Tracking...)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(known, map[Key]bool{{Node, 1}: true}) {
			t.Errorf("known from a diff or a seed: %v", known)
		}

		// No location is no location (deleted node 1 v3); (0, 0) is a location (node 2).
		pos, err := s.Positions(ctx, []int64{1, 2, 3}, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int64]Position{1: {Version: 3, Source: SourceDiff}, 2: {Version: 1, HasCoords: true, Source: SourceAPI}}; !reflect.DeepEqual(pos, want) {
			t.Errorf("positions: %+v, want %+v", pos, want)
		}
		pos, err = s.Positions(ctx, []int64{1, 2, 3}, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int64]Position{1: {Version: 2, HasCoords: true, Lat: 53.6, Lon: 10.1, Source: SourceDiff}, 2: {Version: 1, HasCoords: true, Source: SourceAPI}}; !reflect.DeepEqual(pos, want) {
			t.Errorf("located positions: %+v, want %+v", pos, want)
		}

		ways, err := s.WaysWithNodes(ctx, []int64{1})
		if err != nil {
			t.Fatal(err)
		}
		sameElements(t, "ways with node 1", ways, []Element{want[4]})

		cs, err := s.ChangesetElements(ctx, []int64{103, 100})
		if err != nil {
			t.Fatal(err)
		}
		sameElements(t, "changesets", cs, []Element{want[0], want[3], want[4], want[6], want[7]})

		// A diff tells what a version the API answered for did.
		fromDiff := w[3]
		fromDiff.Lat = 5 // the API's answer stays
		if err := s.Write(ctx, []Element{fromDiff}, SourceDiff, 77, false); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Versions(ctx, []VKey{fromDiff.VKey()})
		if len(got) != 1 || got[0].Source != SourceDiff || got[0].Seq != 77 || got[0].Action != Create || got[0].Lat != 0 {
			t.Errorf("API version written by a diff: %+v", got)
		}

		// ...unless replaced.
		if err := s.Write(ctx, []Element{changed}, SourceSeed, 0, true); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Versions(ctx, []VKey{changed.VKey()})
		changed.Source = SourceSeed
		sameElements(t, "replaced", got, []Element{changed})

		// Prune: versions before the cutoff with a newer version go; the newest stays.
		var cur PruneCursor
		var deleted int64
		for {
			d, scanned, err := s.PruneBatch(ctx, t0.Add(90*time.Minute), &cur, 2)
			if err != nil {
				t.Fatal(err)
			}
			deleted += d
			if scanned < 2 {
				break
			}
		}
		if deleted != 3 { // node 1 v1, v2; way 10 v1
			t.Errorf("pruned %d versions, want 3", deleted)
		}
		got, _ = s.History(ctx, []Key{{Node, 1}, {Way, 10}, {Node, 2}})
		if len(got) != 3 {
			t.Errorf("after prune: %+v", got)
		}
	})
}

func TestPGNoLocationIsNull(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	s := PG{DB: db.Pool}
	if err := s.Write(ctx, world(), SourceDiff, 1, false); err != nil {
		t.Fatal(err)
	}
	var nulls, zeros int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE geom IS NULL), count(*) FILTER (WHERE ST_X(geom) = 0 AND ST_Y(geom) = 0)
		FROM elements WHERE type = 'n'`).Scan(&nulls, &zeros); err != nil {
		t.Fatal(err)
	}
	if nulls != 1 || zeros != 1 {
		t.Errorf("nodes: %d without location (want 1: the delete), %d at (0 0) (want 1: node 2)", nulls, zeros)
	}
	// Rows from before migration 060 have no source: diff with a seq, else api.
	if _, err := db.Pool.Exec(ctx, `UPDATE elements SET source = NULL`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE elements SET seq = NULL WHERE type = 'w'`); err != nil {
		t.Fatal(err)
	}
	got, err := s.History(ctx, []Key{{Node, 2}, {Way, 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Source != SourceDiff || got[1].Source != SourceAPI {
		t.Errorf("sources of old rows: %+v", got)
	}
	if err := s.Write(ctx, world(), 9, 0, false); err == nil {
		t.Error("unknown source accepted")
	}
}

func TestPGWriteBulk(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	s := PG{DB: db.Pool}
	// Node 5 v1 is already there from a diff: the seed keeps it.
	if err := s.Write(ctx, []Element{{Type: Node, ID: 5, Version: 1, Changeset: 1, Timestamp: t0, Visible: true, HasCoords: true, Lat: 1, Lon: 2}}, SourceDiff, 9, false); err != nil {
		t.Fatal(err)
	}
	var els []Element
	for i := range 20_000 {
		els = append(els, Element{Type: Node, ID: int64(i + 1), Version: 1, Changeset: 3, Timestamp: t0, Visible: true,
			HasCoords: true, Lat: float64(i%90) / 2, Lon: float64(i%180) / 2, Tags: []Tag{{"n", fmt.Sprint(i)}}})
	}
	els = append(els, world()[4:]...)
	els = append(els, Element{Type: Way, ID: 30, Version: 1, Changeset: 3, Timestamp: t0, Visible: true}) // no nodes
	n, err := s.WriteBulk(ctx, els, SourceSeed)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(els) - 1); n != want {
		t.Errorf("bulk wrote %d, want %d", n, want)
	}
	// Idempotent: a second run adds nothing; inside a transaction too.
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if n, err := (PG{DB: tx}).WriteBulk(ctx, els[:100], SourceSeed); err != nil || n != 0 {
			t.Fatalf("second bulk write: %d, %v", n, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Versions(ctx, []VKey{{Node, 5, 1}, {Node, 6, 1}, {Relation, 20, 4}, {Way, 30, 1}})
	if err != nil {
		t.Fatal(err)
	}
	Sort(got)
	if len(got) != 4 || got[0].Source != SourceDiff || got[0].Lat != 1 || got[0].Seq != 9 || got[1].Source != SourceSeed ||
		got[1].Tags[0] != (Tag{"n", "5"}) || len(got[2].Nodes) != 0 || got[2].Nodes == nil || len(got[3].Members) != 2 {
		t.Errorf("after bulk: %+v", got)
	}
}

// indexes lists the indexes of elements with their definitions.
func indexes(t *testing.T, db DB) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT indexdef FROM pg_indexes WHERE tablename = 'elements' ORDER BY indexname`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestPGLoad: the empty store's fast path (COPY straight into the table, indexes rebuilt) holds
// exactly what WriteBulk writes, keeps the first of duplicate versions, leaves the table as it
// was when aborted, and refuses a store that holds versions without locking it.
func TestPGLoad(t *testing.T) {
	ctx := context.Background()
	var els []Element
	for i := range 30_000 {
		e := Element{Type: Node, ID: int64(i + 100), Version: 1 + i%3, Changeset: int64(i / 7), Timestamp: t0.Add(time.Duration(i) * time.Second),
			UID: int64(i % 5), User: fmt.Sprint("u", i%5), Visible: i%11 != 0, HasCoords: i%11 != 0, Lat: float64(i%180)/2 - 45, Lon: float64(i%360)/2 - 90}
		if i%4 == 0 {
			e.Tags = []Tag{{"n", fmt.Sprint(i)}, {"näme", "\"q\"\t\\"}}
		}
		els = append(els, e)
	}
	els = append(els, world()...)
	els = append(els, Element{Type: Way, ID: 30, Version: 1, Changeset: 3, Timestamp: t0, Visible: true}, // no nodes
		Element{Type: Relation, ID: 31, Version: 1, Changeset: 3, Timestamp: t0, Visible: true, Members: []Member{}}) // no members

	slow := dbtest.PG(t)
	if _, err := (PG{DB: slow.Pool}).WriteBulk(ctx, els, SourceSeed); err != nil {
		t.Fatal(err)
	}
	fast := dbtest.PG(t)
	want := indexes(t, fast.Pool)
	if len(want) < 3 {
		t.Fatalf("elements has %d indexes: %v", len(want), want)
	}
	load := func(els []Element, abort bool) (int64, error) {
		t.Helper()
		tx, err := fast.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		l, err := StartLoad(ctx, tx)
		if err != nil {
			return 0, err
		}
		for i := 0; i < len(els); i += 7000 {
			if err := l.Write(ctx, els[i:min(i+7000, len(els))], SourceSeed); err != nil {
				l.Abort(ctx, err)
				return 0, err
			}
		}
		if abort {
			l.Abort(ctx, nil)
			if err := tx.Commit(ctx); err != nil { // the transaction goes on after an abort
				t.Fatal(err)
			}
			return 0, nil
		}
		n, err := l.Finish(ctx)
		if err != nil {
			return n, err
		}
		return n, tx.Commit(ctx)
	}
	if _, err := load(els, true); err != nil {
		t.Fatal(err)
	}
	var n int64
	fast.Pool.QueryRow(ctx, `SELECT count(*) FROM elements`).Scan(&n)
	if got := indexes(t, fast.Pool); n != 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("after an aborted load: %d rows, indexes %v, want %v", n, got, want)
	}
	// Versions listed twice: the first is kept.
	dup := append(append([]Element{}, els...), els[5], els[len(els)-3])
	dup[len(dup)-1].Tags = []Tag{{"second", "copy"}}
	got, err := load(dup, false)
	if err != nil || got != int64(len(els)) {
		t.Fatalf("load wrote %d versions (%v), want %d", got, err, len(els))
	}
	dbtest.SameTables(t, dbtest.Tables(t, slow.Pool), dbtest.Tables(t, fast.Pool))
	if got := indexes(t, fast.Pool); !reflect.DeepEqual(got, want) {
		t.Errorf("indexes after the load: %v, want %v", got, want)
	}
	// Held versions: refused.
	if _, err := load(els[:10], false); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("load into a store in use: %v", err)
	}
}

// TestPGLoadRace: versions committed while a load waits for its lock make it refuse, and it
// then holds no lock on the table.
func TestPGLoadRace(t *testing.T) {
	ctx := context.Background()
	db := dbtest.PG(t)
	writer, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback(ctx)
	if err := (PG{DB: writer}).Write(ctx, world()[:1], SourceDiff, 1, false); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	started := make(chan error, 1)
	go func() {
		_, err := StartLoad(ctx, tx)
		started <- err
	}()
	// Wait until the load waits for its lock (the writer's row is not committed: it saw an
	// empty table), then commit the row.
	for i := 0; ; i++ {
		var waiting int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE relation = 'elements'::regclass AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if i == 500 {
			t.Fatal("the load never waited for its lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-started; !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("load after a concurrent write: %v", err)
	}
	other, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	if _, err := other.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
		t.Fatal(err)
	}
	if err := (PG{DB: other}).Write(ctx, world()[3:4], SourceDiff, 2, false); err != nil {
		t.Errorf("write beside a refused load (the table is still locked?): %v", err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM elements`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the load's transaction after the refusal: %d rows, %v", n, err)
	}
}
