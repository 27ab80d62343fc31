package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/osmchange"
	"github.com/osmtrack/osmtrack/etl/replication"
)

func osc(actions ...string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<osmChange version=\"0.6\" generator=\"test\">\n" + strings.Join(actions, "\n") + "\n</osmChange>\n")
}

func block(action string, els ...string) string {
	return "<" + action + ">\n" + strings.Join(els, "\n") + "\n</" + action + ">"
}

func node(id, v, cs int64, lat, lon float64, tags ...string) string {
	s := fmt.Sprintf(`<node id="%d" version="%d" timestamp="2026-01-01T00:00:00Z" uid="7" user="tester" changeset="%d" lat="%g" lon="%g"`, id, v, cs, lat, lon)
	if len(tags) == 0 {
		return s + "/>"
	}
	s += ">"
	for i := 0; i+1 < len(tags); i += 2 {
		s += fmt.Sprintf(`<tag k="%s" v="%s"/>`, tags[i], tags[i+1])
	}
	return s + "</node>"
}

func way(id, v, cs int64, refs ...int64) string {
	s := fmt.Sprintf(`<way id="%d" version="%d" timestamp="2026-01-01T00:00:00Z" uid="7" user="tester" changeset="%d">`, id, v, cs)
	for _, r := range refs {
		s += fmt.Sprintf(`<nd ref="%d"/>`, r)
	}
	return s + `<tag k="highway" v="residential"/></way>`
}

func relation(id, v, cs int64, members ...string) string {
	s := fmt.Sprintf(`<relation id="%d" version="%d" timestamp="2026-01-01T00:00:00Z" uid="7" user="tester" changeset="%d">`, id, v, cs)
	for _, m := range members {
		s += m
	}
	return s + `<tag k="type" v="route"/></relation>`
}

func member(typ string, ref int64, role string) string {
	return fmt.Sprintf(`<member type="%s" ref="%d" role="%s"/>`, typ, ref, role)
}

// Berlin and far away from it.
const (
	inLat, inLon   = 52.52, 13.40
	outLat, outLon = 48.85, 2.35
)

func TestApply241Planet(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	feed.add(100, readShared(t, "minutely/241.osc"))
	f := newFetcher(db, feed.srv.URL, nil)
	ctx := context.Background()
	res, err := f.Run(ctx, Options{Pointer: "minute", Start: "head"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 1 || res.Pointer != 100 {
		t.Fatalf("%+v", res)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'n'`); n != 4120 {
		t.Fatalf("%d nodes", n)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'w'`); n != 576 {
		t.Fatalf("%d ways", n)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'r'`); n != 1 {
		t.Fatalf("%d relations", n)
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE tracked AND state = 'new' AND first_seq = 100 AND last_seq = 100`); n != 59 {
		t.Fatalf("%d changesets", n)
	}
	if n := count(t, db, `SELECT count(*) FROM diffs WHERE seq = 100 AND elements = 4697 AND elements_kept = 4697 AND changesets = 59`); n != 1 {
		t.Fatal("diffs row wrong")
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'n' AND id = 120817853 AND version = 6 AND username = 'CartoDog'
		AND ST_X(geom) = -73.6769128 AND ST_Y(geom) = -45.1522204 AND visible AND action = 'modify' AND seq = 100`); n != 1 {
		t.Fatal("first node not stored as expected")
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE action = 'delete' AND visible`); n != 0 {
		t.Fatal("deleted elements stored visible")
	}
	// Counts per changeset add up to the diff.
	if n := count(t, db, `SELECT sum(num_create + num_modify + num_delete)::int FROM changesets`); n != 4697 {
		t.Fatalf("changeset counts sum to %d", n)
	}
	// Every changeset with a node has an extent (ways whose nodes the store does not know yet have none).
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE edit_extent IS NULL AND id IN (SELECT changeset FROM elements WHERE type = 'n')`); n != 0 {
		t.Fatalf("%d changesets without an extent", n)
	}
	before := checksums(t, db, "minute")

	// Again: nothing to do.
	res, err = f.Run(ctx, Options{Pointer: "minute", Start: "head"})
	if err != nil || res.Applied != 0 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	// Re-applying the sequence through another pointer changes nothing; --force re-applies.
	res, err = f.Run(ctx, Options{Pointer: "again", FromSeq: 100, ToSeq: 100})
	if err != nil || res.Skipped != 1 {
		t.Fatalf("re-apply: %+v %v", res, err)
	}
	res, err = f.Run(ctx, Options{Pointer: "forced", FromSeq: 100, ToSeq: 100, Force: true})
	if err != nil || res.Applied != 1 {
		t.Fatalf("force: %+v %v", res, err)
	}
	after := checksums(t, db, "minute")
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed by re-applying: %s -> %s", k, v, after[k])
		}
	}
}

// TestRealDiffs applies every real minutely diff of the shared data, in sequence.
func TestRealDiffs(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	feed.add(1, readShared(t, "minutely/871.osc"))
	feed.addRaw(2, readShared(t, "minutely/612.osc.gz"), baseTime.Add(2*time.Minute))
	feed.add(3, readShared(t, "minutely/241.osc"))
	f := newFetcher(db, feed.srv.URL, nil)
	res, err := f.Run(context.Background(), Options{Pointer: "minute", Start: "1"})
	if err != nil || res.Applied != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM diffs`); n != 3 {
		t.Fatalf("%d diffs", n)
	}
	if n := count(t, db, `SELECT elements FROM diffs WHERE seq = 1`); n != 194 {
		t.Fatalf("871.osc: %d elements", n)
	}
}

func seqErrorCheck(t *testing.T, err error, seq uint64, url string, cause string) {
	t.Helper()
	var se *SeqError
	if !errors.As(err, &se) {
		t.Fatalf("want a *SeqError, got %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf("fetch seq %d", seq)) || !strings.Contains(msg, url) || !strings.Contains(msg, cause) {
		t.Fatalf("error %q does not name seq %d, URL %s and cause %q", msg, seq, url, cause)
	}
}

func TestBadInput(t *testing.T) {
	good := osc(block("create", node(1, 1, 10, inLat, inLon)))
	cases := []struct {
		name  string
		setup func(t *testing.T, f *testFeed) // t is the subtest's: Fatal must stop the subtest
		cause string
		// path whose URL the error names; default the data file of 101
		path string
		lim  Limits // the fetcher's limits (zero: none)
		body int64  // the client's body limit (0: osmhttp's default)
	}{
		{"truncated gzip", func(t *testing.T, f *testFeed) {
			b := gz(readShared(t, "minutely/871.osc"))
			f.addRaw(101, b[:len(b)/2], baseTime.Add(101*time.Minute))
		}, "gunzip: unexpected EOF", "", Limits{}, 0},
		{"not gzip", func(t *testing.T, f *testFeed) {
			f.addRaw(101, []byte("<html>Service Unavailable</html>"), baseTime.Add(101*time.Minute))
		}, "gunzip: gzip: invalid header", "", Limits{}, 0},
		{"empty body", func(t *testing.T, f *testFeed) { f.addRaw(101, nil, baseTime.Add(101*time.Minute)) }, "gunzip: empty body", "", Limits{}, 0},
		{"empty document", func(t *testing.T, f *testFeed) { f.add(101, []byte("  \n")) }, "parse: empty document", "", Limits{}, 0},
		{"malformed xml", func(t *testing.T, f *testFeed) {
			f.add(101, []byte(`<osmChange version="0.6"><create><node id="1" version="1" </create></osmChange>`))
		}, "parse: XML syntax error", "", Limits{}, 0},
		{"unknown element", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", node(2, 1, 10, inLat, inLon), `<banana id="3"/>`)))
		}, "unknown element <banana> in <create>", "", Limits{}, 0},
		{"garbage state file", func(t *testing.T, f *testFeed) {
			f.add(101, good)
			f.edit(func() { f.files["/replication/minute/000/000/101.state.txt"] = []byte("\x00\xffgarbage") })
		}, "state file", "/replication/minute/000/000/101.state.txt", Limits{}, 0},
		{"state file without timestamp", func(t *testing.T, f *testFeed) {
			f.add(101, good)
			f.edit(func() { f.files["/replication/minute/000/000/101.state.txt"] = []byte("sequenceNumber=101\n") })
		}, "state file has no timestamp", "/replication/minute/000/000/101.state.txt", Limits{}, 0},
		{"404 below head", func(t *testing.T, f *testFeed) {
			f.add(101, good)
			f.add(102, good)
			f.edit(func() { delete(f.files, f.dataPath(101)) })
		}, "404 Not Found (gave up after 3 attempts)", "", Limits{}, 0},
		{"hung server", func(t *testing.T, f *testFeed) {
			f.add(101, good)
			f.set(f.dataPath(101), func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		}, "timeout awaiting response headers", "", Limits{}, 0},
		{"timestamp backwards", func(t *testing.T, f *testFeed) {
			f.addRaw(101, gz(good), baseTime.Add(99*time.Minute))
		}, "goes backwards", "", Limits{}, 0},
		{"same element version twice", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", node(5, 1, 10, inLat, inLon)), block("modify", node(5, 1, 10, inLat, inLon))))
		}, "node 5 v1 appears twice", "", Limits{}, 0},
		{"way with node ids nobody can know", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", node(6, 1, 10, inLat, inLon), way(7, 1, 10, 6, -1))))
		}, "references node -1", "", Limits{}, 0},
		// Timestamps in a sane range.
		{"state time in the future", func(t *testing.T, f *testFeed) {
			f.addRaw(101, gz(good), time.Now().Add(2*time.Hour))
		}, "in the future (more than fetch.max_clock_skew 1h0m0s)", "/replication/minute/000/000/101.osc.gz", Limits{}, 0},
		// Exact decoding.
		{"empty coordinates", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", `<node id="8" version="1" changeset="10" timestamp="2026-01-01T00:00:00Z" lat="" lon=""/>`)))
		}, `lat="" is not a decimal number`, "", Limits{}, 0},
		{"version 2^32+2", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("modify", `<way id="9" version="4294967298" changeset="10" timestamp="2026-01-01T00:00:00Z"><nd ref="100"/></way>`)))
		}, "version 4294967298 out of range", "", Limits{}, 0},
		{"unknown nested element", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", `<way id="9" version="1" changeset="10" timestamp="2026-01-01T00:00:00Z"><nd ref="100"><banana/></nd></way>`)))
		}, "unknown element <banana> in <nd>", "", Limits{}, 0},
		// Limits on what the network gives.
		{"gzip bomb", func(t *testing.T, f *testFeed) {
			f.addRaw(101, gz(bytes.Repeat([]byte(" "), 4<<20)), baseTime.Add(101*time.Minute))
		}, "gunzip: more than 1048576 bytes uncompressed (limit osm.max_uncompressed_bytes)", "", Limits{MaxUncompressedBytes: 1 << 20}, 0},
		{"body over the limit", func(t *testing.T, f *testFeed) {
			f.add(101, good)
		}, "body larger than the limit of 64 bytes", "", Limits{}, 64},
		{"elements over the limit", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", node(11, 1, 10, inLat, inLon), node(12, 1, 10, inLat, inLon), node(13, 1, 10, inLat, inLon))))
		}, "more than 2 elements in the document (limit)", "", Limits{Decode: osmchange.Limits{MaxElements: 2}}, 0},
		{"tags over the limit", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", node(11, 1, 10, inLat, inLon, "a", "1", "b", "2"))))
		}, "more than 1 tags in node 11 v1", "", Limits{Decode: osmchange.Limits{MaxTags: 1}}, 0},
		{"value over the limit", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", node(11, 1, 10, inLat, inLon, "name", strings.Repeat("x", 300)))))
		}, "more than 255 bytes in the value of tag name of node 11 v1", "", Limits{Decode: osmchange.Limits{MaxValueBytes: 255}}, 0},
		{"members over the limit", func(t *testing.T, f *testFeed) {
			f.add(101, osc(block("create", relation(12, 1, 10, member("node", 100, ""), member("node", 100, "a")))))
		}, "more than 1 members in relation 12 v1", "", Limits{Decode: osmchange.Limits{MaxMembers: 1}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := pg(t)
			feed := newTestFeed(t)
			feed.add(100, osc(block("create", node(100, 1, 9, inLat, inLon))))
			f := newFetcher(db, feed.srv.URL, nil)
			ctx := context.Background()
			if _, err := f.Run(ctx, Options{Pointer: "minute", Start: "100", MaxFiles: 1}); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, feed)
			f.Limits = tc.lim
			if tc.body > 0 {
				o := testOptions()
				o.MaxBodyBytes = tc.body
				f.Feed = replication.NewFeed(feed.srv.URL+"/replication/minute/", replication.Minute, replication.NewClient(o))
			}
			before := checksums(t, db, "minute")
			_, err := f.Run(ctx, Options{Pointer: "minute"})
			path := tc.path
			if path == "" {
				path = feed.dataPath(101)
			}
			seqErrorCheck(t, err, 101, feed.srv.URL+path, tc.cause)
			if p := pointerSeq(t, db, "minute"); p != 100 {
				t.Fatalf("pointer moved to %d", p)
			}
			if n := count(t, db, `SELECT count(*) FROM elements WHERE seq = 101`) + count(t, db, `SELECT count(*) FROM diffs WHERE seq = 101`); n != 0 {
				t.Fatalf("%d rows from the bad diff", n)
			}
			after := checksums(t, db, "minute")
			for k, v := range before {
				if after[k] != v {
					t.Fatalf("%s changed: %s -> %s", k, v, after[k])
				}
			}
		})
	}
}

func Test500Then200(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	feed.add(100, osc(block("create", node(1, 1, 10, inLat, inLon))))
	n := 0
	feed.set(feed.dataPath(100), func(w http.ResponseWriter, r *http.Request) {
		feed.mu.Lock()
		n++
		first := n == 1
		body := feed.files[feed.dataPath(100)]
		feed.mu.Unlock()
		if first {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		w.Write(body)
	})
	f := newFetcher(db, feed.srv.URL, nil)
	res, err := f.Run(context.Background(), Options{Pointer: "minute", Start: "head"})
	if err != nil || res.Applied != 1 || n != 2 {
		t.Fatalf("%+v %v after %d requests", res, err, n)
	}
}

func TestEmptyOsmChangeIsApplied(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	feed.add(100, osc())
	f := newFetcher(db, feed.srv.URL, nil)
	if _, err := f.Run(context.Background(), Options{Pointer: "minute", Start: "head"}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM diffs WHERE seq = 100 AND elements = 0`); n != 1 {
		t.Fatal("empty diff not recorded")
	}
}

func TestRegionMatching(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	// Diff 100: node 1 in Berlin, node 2 in Paris; way 10 uses 1 and 2, way 11 only 2 (and an
	// unknown node 999); relation 20 has way 10, relation 21 only way 11, relation 22 has
	// relation 20 (kept through a kept relation). Changesets: 500 (Berlin), 501 (Paris only).
	feed.add(100, osc(
		block("create", node(1, 1, 500, inLat, inLon, "amenity", "cafe"), node(2, 1, 501, outLat, outLon)),
		block("create", way(10, 1, 500, 1, 2), way(11, 1, 501, 2, 999)),
		block("create", relation(22, 1, 501, member("relation", 20, "")), relation(20, 1, 500, member("way", 10, "outer")), relation(21, 1, 501, member("way", 11, "")))))
	f := newFetcher(db, feed.srv.URL, berlin(t))
	ctx := context.Background()
	if _, err := f.Run(ctx, Options{Pointer: "minute", Start: "head"}); err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	rows, _ := db.Query(ctx, `SELECT type::text || id FROM elements`)
	for rows.Next() {
		var k string
		rows.Scan(&k)
		kept[k] = true
	}
	rows.Close()
	for _, k := range []string{"n1", "w10", "r20", "r22"} {
		if !kept[k] {
			t.Errorf("%s not kept", k)
		}
	}
	for _, k := range []string{"n2", "w11", "r21"} {
		if kept[k] {
			t.Errorf("%s kept", k)
		}
	}
	// 500 tracked; 501 tracked too (relation 22 is kept and is in 501).
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE tracked AND state = 'new'`); n != 2 {
		t.Fatalf("%d tracked changesets", n)
	}
	if n := count(t, db, `SELECT num_create FROM changesets WHERE id = 500`); n != 3 {
		t.Fatalf("changeset 500: %d creates", n)
	}
	// The extent of 500 covers Berlin and, through way 10, Paris.
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 500 AND ST_XMin(edit_extent) = $1 AND ST_XMax(edit_extent) = $2`, outLon, inLon); n != 1 {
		t.Fatal("extent of 500 wrong")
	}
	if n := count(t, db, `SELECT elements_kept FROM diffs WHERE seq = 100`); n != 4 {
		t.Fatalf("elements_kept %d", n)
	}

	// Diff 101: node 1 moves to Paris (kept: the store holds it); node 2 changes (not kept);
	// way 11 gains node 1 (kept: it references a node the store holds). Changeset 500 had been
	// filtered: new elements send it back to 'new'.
	db.Exec(ctx, `UPDATE changesets SET state = 'filtered' WHERE id = 500`)
	feed.add(101, osc(block("modify", node(1, 2, 500, outLat, outLon), node(2, 2, 502, outLat+1, outLon), way(11, 2, 503, 2, 1))))
	if _, err := f.Run(ctx, Options{Pointer: "minute"}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE seq = 101`); n != 2 {
		t.Fatalf("%d kept from 101", n)
	}
	if n := count(t, db, `SELECT count(*) FROM elements WHERE type = 'w' AND id = 11 AND version = 2`); n != 1 {
		t.Fatal("way 11 v2 not kept")
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 500 AND state = 'new' AND first_seq = 100 AND last_seq = 101 AND num_modify = 1`); n != 1 {
		t.Fatal("changeset 500 not back to new with updated summary")
	}
	if n := count(t, db, `SELECT count(*) FROM changesets WHERE id = 502`); n != 0 {
		t.Fatal("changeset 502 (nothing kept) has a row")
	}
}

func TestMaxFilesAndResume(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	for s := uint64(100); s < 105; s++ {
		feed.add(s, osc(block("create", node(int64(s), 1, int64(s), inLat, inLon))))
	}
	f := newFetcher(db, feed.srv.URL, nil)
	ctx := context.Background()
	res, err := f.Run(ctx, Options{Pointer: "minute", Start: "100", MaxFiles: 2})
	if err != nil || res.Applied != 2 || res.Pointer != 101 {
		t.Fatalf("%+v %v", res, err)
	}
	res, err = f.Run(ctx, Options{Pointer: "minute", Start: "100", MaxFiles: 10})
	if err != nil || res.Applied != 3 || res.Pointer != 104 || res.From != 102 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestBadHeadState(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	feed.add(100, osc())
	feed.set("/replication/minute/state.txt", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("sequenceNumber=\n")) })
	_, err := newFetcher(db, feed.srv.URL, nil).Run(context.Background(), Options{Pointer: "minute", Start: "head"})
	if err == nil || !strings.Contains(err.Error(), feed.srv.URL+"/replication/minute/state.txt") || !strings.Contains(err.Error(), "sequenceNumber") {
		t.Fatalf("got %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM replication_state`); n != 0 {
		t.Fatal("pointer created without a head")
	}
}

// A pointer that accepted a time in the future (as fetch did before it checked) makes every
// later diff "go backwards"; ResetPointer repairs it without SQL.
func TestResetPointer(t *testing.T) {
	db := pg(t)
	feed := newTestFeed(t)
	for s := uint64(100); s <= 102; s++ {
		feed.add(s, osc(block("create", node(int64(s), 1, 9, inLat, inLon))))
	}
	f := newFetcher(db, feed.srv.URL, nil)
	ctx := context.Background()
	if _, err := f.Run(ctx, Options{Pointer: "minute", Start: "100", MaxFiles: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE replication_state SET seq_timestamp = '2099-01-01T00:00:00Z' WHERE name = 'minute'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Run(ctx, Options{Pointer: "minute"}); err == nil || !strings.Contains(err.Error(), "goes backwards") {
		t.Fatalf("run after a future pointer: %v", err)
	}
	if _, _, _, err := f.ResetPointer(ctx, "nosuch", 100); err == nil || !strings.Contains(err.Error(), "pointer nosuch does not exist") {
		t.Errorf("reset of a missing pointer: %v", err)
	}
	oldSeq, oldTS, newTS, err := f.ResetPointer(ctx, "minute", 100)
	if err != nil || oldSeq != 100 || oldTS == nil || oldTS.Year() != 2099 || newTS == nil || !newTS.Equal(baseTime.Add(100*time.Minute)) {
		t.Fatalf("reset: %d %v %v %v", oldSeq, oldTS, newTS, err)
	}
	if res, err := f.Run(ctx, Options{Pointer: "minute"}); err != nil || res.Applied != 2 || pointerSeq(t, db, "minute") != 102 {
		t.Fatalf("run after the reset: %+v %v", res, err)
	}
}
