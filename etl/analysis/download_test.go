package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// countingSim serves the simulator, counting API requests and changeset downloads; gone, when
// set, is the status every download answers instead (404, 410).
type countingSim struct {
	h         http.Handler
	requests  atomic.Int64
	downloads atomic.Int64
	gone      atomic.Int64
}

func (c *countingSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		c.requests.Add(1)
	}
	if strings.HasSuffix(r.URL.Path, "/download") {
		c.downloads.Add(1)
		if g := c.gone.Load(); g != 0 {
			http.Error(w, "The changeset was not found", int(g))
			return
		}
	}
	c.h.ServeHTTP(w, r)
}

// partialSim prepares a database whose element store holds only `keep` versions of the
// simulator's mass_modify changeset (as fetch leaves a changeset that lies mostly outside the
// regions), with its metadata row (changes_count from the simulator) in state filtered.
func partialSim(t *testing.T, keep int, open bool) (db *pgxpool.Pool, srv *countingSim, base string, id int64, all []elements.Element) {
	t.Helper()
	dir := simWorld(t)
	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	srv = &countingSim{h: h}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	base = hs.URL + "/api/0.6/"
	for cid, c := range simChangesets(t, dir) {
		if strings.HasPrefix(c, "Realigned the old town's buildings") && (id == 0 || cid < id) {
			id = cid
		}
	}
	if id == 0 {
		t.Fatal("no mass_modify changeset in the simulation")
	}
	m, err := DecodeMeta(bytes.NewReader(get(t, fmt.Sprintf("%schangeset/%d", base, id))), "meta")
	if err != nil {
		t.Fatal(err)
	}
	all, err = DecodeElements(bytes.NewReader(get(t, fmt.Sprintf("%schangeset/%d/download", base, id))), "download")
	if err != nil {
		t.Fatal(err)
	}
	if m.ChangesCount != len(all) || len(all) <= 200 {
		t.Fatalf("changeset %d: changes_count %d, download %d versions", id, m.ChangesCount, len(all))
	}
	srv.requests.Store(0)
	srv.downloads.Store(0)

	pg := dbtest.PG(t)
	db = pg.Pool
	ctx := context.Background()
	if err := (&PGStore{DB: db}).Put(ctx, all[:keep]); err != nil {
		t.Fatal(err)
	}
	tags, _ := json.Marshal(m.Tags)
	created := time.Now().Add(-2 * time.Hour)
	var closed any
	if !open {
		closed = created.Add(time.Hour)
	}
	if _, err := db.Exec(ctx, `INSERT INTO changesets (id, username, uid, created_at, closed_at, open, changes_count, tags, state, last_seq,
		meta_updated_at, num_modify, tracked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'filtered', 100, $4, $9, true)`,
		id, m.User, m.UID, created, closed, open, m.ChangesCount, string(tags), keep); err != nil {
		t.Fatal(err)
	}
	return db, srv, base, id, all
}

type storedAnalysis struct {
	complete   bool
	incomplete string
	reasons    []string
	total      int
	modify     int
	state      string
	dlStatus   *int
}

func readAnalysis(t *testing.T, db *pgxpool.Pool, id int64) storedAnalysis {
	t.Helper()
	var a storedAnalysis
	var inc *string
	if err := db.QueryRow(context.Background(), `SELECT a.complete, a.incomplete, a.reasons, (a.doc->'counts'->>'total')::int,
		(a.doc->'counts'->'modify'->>'node')::int + (a.doc->'counts'->'modify'->>'way')::int + (a.doc->'counts'->'modify'->>'relation')::int,
		c.state, c.download_status
		FROM analyses a JOIN changesets c ON c.id = a.changeset_id WHERE a.changeset_id = $1`, id).
		Scan(&a.complete, &inc, &a.reasons, &a.total, &a.modify, &a.state, &a.dlStatus); err != nil {
		t.Fatal(err)
	}
	if inc != nil {
		a.incomplete = *inc
	}
	return a
}

func reanalyse(t *testing.T, db *pgxpool.Pool, id int64) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `UPDATE changesets SET state = 'filtered' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
}

// TestPartialChangesetIsDownloadedOnce: the store holds 14 of the mass_modify changeset's
// versions; the analysis downloads the changeset once, stores it and analyses all of it
// (mass_modification, the full counts, complete); a second analysis asks the API nothing.
func TestPartialChangesetIsDownloadedOnce(t *testing.T) {
	db, srv, base, id, all := partialSim(t, 14, false)
	ctx := context.Background()
	client := apiClient(t, base)
	w := workerFor(t, db, client, client)
	st, err := w.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Analysed != 1 || st.Failed != 0 || st.Downloads != 1 || st.Done != 1 {
		t.Fatalf("stats %+v", st)
	}
	if n := srv.downloads.Load(); n != 1 {
		t.Errorf("%d download requests, want 1", n)
	}
	a := readAnalysis(t, db, id)
	if !a.complete || a.incomplete != "" || a.total != len(all) || a.modify != len(all) || a.state != "done" {
		t.Errorf("analysis: %+v; want complete with %d modifications", a, len(all))
	}
	if !slices.Contains(a.reasons, "mass_modification") {
		t.Errorf("reasons %v lack mass_modification", a.reasons)
	}
	if a.dlStatus == nil || *a.dlStatus != 200 {
		t.Errorf("download status %v", a.dlStatus)
	}
	var stored int
	db.QueryRow(ctx, `SELECT count(*) FROM elements WHERE changeset = $1`, id).Scan(&stored)
	if stored != len(all) {
		t.Errorf("the store holds %d versions of the changeset, want %d", stored, len(all))
	}
	// The document validates, and counts the versions as the download lists them.
	var body []byte
	db.QueryRow(ctx, `SELECT doc FROM analyses WHERE changeset_id = $1`, id).Scan(&body)
	var d Document
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	validate(t, validator(t), &d)
	if len(d.Elements) != len(all) {
		t.Errorf("%d elements in the document, want %d", len(d.Elements), len(all))
	}

	// Analysed again: everything is in the store, nothing is asked.
	reanalyse(t, db, id)
	before := srv.requests.Load()
	st, err = w.Run(ctx)
	if err != nil || st.Analysed != 1 || st.Downloads != 0 {
		t.Fatalf("second run: %+v %v", st, err)
	}
	if n := srv.requests.Load() - before; n != 0 {
		t.Errorf("second analysis: %d API requests", n)
	}
	if a := readAnalysis(t, db, id); !a.complete || a.total != len(all) {
		t.Errorf("second analysis: %+v", a)
	}
}

// TestDownloadNotFoundLeavesTheDocumentIncomplete: the download answers 404 (or 410): the
// document says how much of the changeset the store holds, and the download is not asked again.
func TestDownloadNotFoundLeavesTheDocumentIncomplete(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			db, srv, base, id, all := partialSim(t, 14, false)
			srv.gone.Store(int64(code))
			ctx := context.Background()
			client := apiClient(t, base)
			w := workerFor(t, db, client, client)
			st, err := w.Run(ctx)
			if err != nil || st.Analysed != 1 || st.Failed != 0 || st.Downloads != 1 || st.Incomplete != 1 {
				t.Fatalf("stats %+v %v", st, err)
			}
			a := readAnalysis(t, db, id)
			want := fmt.Sprintf("the element store holds 14 of the changeset's %d changes; its download (changeset/%d/download) answered HTTP %d", len(all), id, code)
			if a.complete || !strings.Contains(a.incomplete, want) || a.total != 14 || slices.Contains(a.reasons, "mass_modification") {
				t.Errorf("analysis %+v; want incomplete: %q", a, want)
			}
			if a.dlStatus == nil || *a.dlStatus != code {
				t.Errorf("download status %v", a.dlStatus)
			}
			// Analysed again (new metadata, say): the recorded answer stands, no new request.
			reanalyse(t, db, id)
			if st, err := w.Run(ctx); err != nil || st.Analysed != 1 || st.Downloads != 0 {
				t.Fatalf("second run: %+v %v", st, err)
			}
			if n := srv.downloads.Load(); n != 1 {
				t.Errorf("%d download requests, want 1", n)
			}
			if a := readAnalysis(t, db, id); a.complete || !strings.Contains(a.incomplete, want) {
				t.Errorf("second analysis: %+v", a)
			}
		})
	}
}

// TestPartialChangesetWithoutDownload: no API (analyse --no-api), or an open changeset: no
// download, and the document is incomplete saying why.
func TestPartialChangesetWithoutDownload(t *testing.T) {
	ctx := context.Background()
	t.Run("no API", func(t *testing.T) {
		db, srv, _, id, all := partialSim(t, 14, false)
		w := workerFor(t, db, nil, nil)
		if st, err := w.Run(ctx); err != nil || st.Analysed != 1 || st.Downloads != 0 {
			t.Fatalf("%+v %v", st, err)
		}
		a := readAnalysis(t, db, id)
		want := fmt.Sprintf("the element store holds 14 of the changeset's %d changes; no OSM API to download the rest from", len(all))
		if a.complete || !strings.Contains(a.incomplete, want) || srv.requests.Load() != 0 || a.dlStatus != nil {
			t.Errorf("analysis %+v, %d requests; want incomplete: %q", a, srv.requests.Load(), want)
		}
	})
	t.Run("open", func(t *testing.T) {
		db, srv, base, id, all := partialSim(t, 14, true)
		client := apiClient(t, base)
		w := workerFor(t, db, client, client)
		if st, err := w.Run(ctx); err != nil || st.Analysed != 1 || st.Downloads != 0 {
			t.Fatalf("%+v %v", st, err)
		}
		a := readAnalysis(t, db, id)
		want := fmt.Sprintf("the element store holds 14 of the changeset's %d changes; the changeset is open", len(all))
		if a.complete || !strings.Contains(a.incomplete, want) || srv.downloads.Load() != 0 || a.state != "analysed" {
			t.Errorf("analysis %+v, %d downloads; want incomplete: %q", a, srv.downloads.Load(), want)
		}
		// It closes (the metadata says so): analysed again, downloaded, complete.
		db.Exec(ctx, `UPDATE changesets SET open = false, closed_at = now(), meta_updated_at = now() WHERE id = $1`, id)
		st, err := w.Run(ctx)
		if err != nil || st.Analysed != 1 || st.Downloads != 1 {
			t.Fatalf("after closing: %+v %v", st, err)
		}
		if a := readAnalysis(t, db, id); !a.complete || a.total != len(all) || a.state != "done" {
			t.Errorf("after closing: %+v", a)
		}
	})
}

// TestAnalyserShortOfChanges: the Analyzer alone (analyse-file's path): metadata that counts
// more changes than the input holds makes the document incomplete, naming both numbers; a
// stale open flag on a changeset older than ChangesetMaxLifetime counts as closed.
func TestAnalyserShortOfChanges(t *testing.T) {
	ctx := context.Background()
	elems := nodes("create", 14, 1, map[string]string{"amenity": "bench"})
	m := meta(map[string]string{"created_by": "iD", "changesets_count": "900"})
	m.ChangesCount, m.Open = 240, true
	a := &Analyzer{Config: config.Default().Analyse, Log: quiet, Now: func() time.Time { return m.CreatedAt.Add(time.Hour) }}
	d, st, err := a.Analyse(ctx, Input{Meta: m, Elems: elems})
	if err != nil {
		t.Fatal(err)
	}
	if d.Complete || d.Counts.Total != 14 || d.Missing != 226 || st.Download != nil ||
		d.Incomplete != "the element store holds 14 of the changeset's 240 changes; the changeset is open: it is downloaded once it has closed" {
		t.Errorf("complete %v total %d missing %d incomplete %q", d.Complete, d.Counts.Total, d.Missing, d.Incomplete)
	}
	if !final(m, m.CreatedAt.Add(26*time.Hour)) || final(m, m.CreatedAt.Add(23*time.Hour)) {
		t.Error("an open changeset is final only after ChangesetMaxLifetime")
	}
	// The whole changeset: complete.
	m.ChangesCount = 14
	if d, _, _ := a.Analyse(ctx, Input{Meta: m, Elems: elems}); !d.Complete {
		t.Errorf("incomplete: %s", d.Incomplete)
	}
}

func TestDecodeDownload(t *testing.T) {
	osc := `<?xml version="1.0" encoding="UTF-8"?>
<osmChange version="0.6" generator="test">
 <create><node id="1" version="1" changeset="9" timestamp="2026-01-01T00:00:00Z" user="u" uid="7" visible="true" lat="50" lon="8"><tag k="amenity" v="bench"/></node></create>
 <modify><way id="2" version="3" changeset="9" timestamp="2026-01-01T00:00:00Z" user="u" uid="7" visible="true"><nd ref="1"/><nd ref="3"/><tag k="highway" v="path"/></way></modify>
 <delete><node id="4" version="2" changeset="9" timestamp="2026-01-01T00:00:00Z" user="u" uid="7" visible="false"/>
  <relation id="5" version="2" changeset="9" timestamp="2026-01-01T00:00:00Z" user="u" uid="7" visible="false"/></delete>
</osmChange>`
	es, err := decodeDownload(9, []byte(osc))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, e := range es {
		got = append(got, fmt.Sprintf("%c%d v%d %s vis=%v loc=%v nodes=%v tags=%v", e.Type, e.ID, e.Version, e.Action, e.Visible, e.HasCoords, e.Nodes, tagMap(e.Tags)))
	}
	want := []string{
		"n1 v1 create vis=true loc=true nodes=[] tags=map[amenity:bench]",
		"n4 v2 delete vis=false loc=false nodes=[] tags=map[]",
		"w2 v3 modify vis=true loc=false nodes=[1 3] tags=map[highway:path]",
		"r5 v2 delete vis=false loc=false nodes=[] tags=map[]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("decoded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := decodeDownload(8, []byte(osc)); err == nil || !strings.Contains(err.Error(), "belongs to changeset 9, not 8") {
		t.Errorf("another changeset's versions: %v", err)
	}
	if _, err := decodeDownload(9, []byte("<osmChange><create><node")); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Errorf("truncated download: %v", err)
	}
}

// blockAfterDownload holds every API request that comes after a changeset download until the
// client gives up, and says when the first one arrives.
type blockAfterDownload struct {
	*countingSim
	held chan struct{}
	once atomic.Bool
}

func (b *blockAfterDownload) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasSuffix(r.URL.Path, "/download") && b.downloads.Load() > 0 {
		if b.once.CompareAndSwap(false, true) {
			close(b.held)
		}
		<-r.Context().Done()
		return
	}
	b.countingSim.ServeHTTP(w, r)
}

// TestInterruptedAfterDownloadWritesNothing: a run stopped (SIGTERM: the context is cancelled)
// after the changeset was downloaded and stored, while the analysis still waits for the API,
// leaves the changeset as it was claimed: no downloaded versions without their download status
// (they were written outside the claim's transaction before, and the status was lost).
func TestInterruptedAfterDownloadWritesNothing(t *testing.T) {
	db, srv, _, id, _ := partialSim(t, 14, false)
	b := &blockAfterDownload{countingSim: srv, held: make(chan struct{})}
	hs := httptest.NewServer(b)
	t.Cleanup(hs.Close)
	client := apiClient(t, hs.URL+"/api/0.6/")
	w := workerFor(t, db, client, client)
	w.Config.ChangesetDeadline = config.Duration(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := w.Run(ctx); done <- err }()
	select {
	case <-b.held:
	case err := <-done:
		t.Fatalf("the analysis asked the API nothing after the download (run: %v): the test cannot interrupt it there", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no API request after the download")
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the interrupted run returned no error")
	}
	var downloaded, stored int
	var dlAt *time.Time
	var state string
	if err := db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM elements WHERE changeset = $1 AND source = 'download'),
		(SELECT count(*) FROM elements WHERE changeset = $1), download_at, state FROM changesets WHERE id = $1`, id).Scan(&downloaded, &stored, &dlAt, &state); err != nil {
		t.Fatal(err)
	}
	if downloaded != 0 || dlAt != nil || stored != 14 || state != "filtered" {
		t.Errorf("after the interruption: %d downloaded versions (%d stored), download_at %v, state %s; want none, 14, unset, filtered",
			downloaded, stored, dlAt, state)
	}
}
