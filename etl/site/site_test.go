package site

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/status"
	"github.com/osmtrack/osmtrack/etl/store"
)

func publishT(t *testing.T, pool *pgxpool.Pool, out string, full bool) *Result {
	t.Helper()
	res, err := Publish(context.Background(), pool, Options{Publish: testConfig(t).Publish, Out: out, Full: full, LeafletDir: leafletForTest(t), Overlap: time.Millisecond,
		Status: func(ctx context.Context) (*status.Report, error) {
			return status.Collect(ctx, pool, status.Options{})
		}})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return res
}

func readSite(t *testing.T, out, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "current", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("site file %s: %v", rel, err)
	}
	return string(b)
}

func exists(out, rel string) bool {
	_, err := os.Stat(filepath.Join(out, "current", filepath.FromSlash(rel)))
	return err == nil
}

func TestPublishIncrementalAndRetention(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	now := time.Now().UTC()
	insertSeed(t, db.Pool, seed{ID: 101, User: "alice", UID: 1, Created: now.Add(-2 * time.Hour), Tags: map[string]string{"comment": "Added a bench", "created_by": "iD 2.30"},
		BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, Labels: map[string]any{"shops": map[string]any{"rule": "shops", "predicate": "tag shop=*"}}, Doc: testDoc(101, "alice", 13.4, 52.5)})
	insertSeed(t, db.Pool, seed{ID: 102, User: "bob", UID: 2, Created: now.Add(-26 * time.Hour), State: "failed", Error: "api: 502 bad gateway", BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}})
	insertSeed(t, db.Pool, seed{ID: 103, User: "alice", UID: 1, Created: now.Add(-3 * time.Hour), State: "filtered", Open: true})
	insertSeed(t, db.Pool, seed{ID: 104, User: "carol", UID: 3, Created: now.Add(-1 * time.Hour), State: "dropped"})
	out := t.TempDir()
	time.Sleep(10 * time.Millisecond) // the first snapshot is after the seeding, past the overlap

	res := publishT(t, db.Pool, out, false)
	if !res.Full || res.Changesets != 3 || res.Rendered != 3 {
		t.Fatalf("first run: %+v", res)
	}
	for _, f := range []string{"index.html", "changesets/101.html", "changesets/101.json", "changesets/102.html", "changesets/103.html",
		"labels/index.html", "labels/shops.html", "labels/shops.atom", "users/1.html", "users/1.atom", "users/2.html", "atom.xml", "feed.json",
		"changesets.geojson", "stats.html", "status.html", "map.html", "feeds.html", "assets/leaflet/leaflet.js", "assets/leaflet/leaflet.css", "assets/site.css", "assets/map.js"} {
		if !exists(out, f) {
			t.Errorf("missing %s", f)
		}
	}
	if exists(out, "changesets/104.html") || exists(out, "changesets/102.json") {
		t.Error("a dropped changeset or a missing analysis was published")
	}
	idx := readSite(t, out, "index.html")
	for _, want := range []string{"changesets/101.html", "Added a bench", "no comment", "failed: api: 502 bad gateway", "waiting", "open",
		"https://overpass-api.de/achavi/?changeset=101", "https://osmcha.org/changesets/101", "https://www.openstreetmap.org/changeset/101",
		"http://127.0.0.1:8111/load_and_zoom?left=", "changeset_ids=101", "deleted-shop", `href="atom.xml"`, "days/"} {
		if want == "failed: api: 502 bad gateway" && strings.Contains(readSite(t, out, "users/2.html"), want) {
			continue
		}
		if !strings.Contains(idx, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	cs := readSite(t, out, "changesets/101.html")
	for _, want := range []string{"a shop was deleted", "tag shop=*", "Main Street", "track", "service", "someone", "highway=residential", "0.12",
		"101.json", "map-data", "assets/leaflet/leaflet.js", `<base href="../">`, "labels/shops.atom"} {
		if !strings.Contains(cs, want) {
			t.Errorf("changesets/101.html lacks %q", want)
		}
	}
	var feed struct {
		Entries []struct {
			Title string `xml:"title"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal([]byte(readSite(t, out, "labels/shops.atom")), &feed); err != nil || len(feed.Entries) != 1 {
		t.Fatalf("label feed: %v %+v", err, feed)
	}
	var gj struct {
		Features []struct {
			Properties struct {
				ID      int64    `json:"id"`
				Labels  []string `json:"labels"`
				Reasons []string `json:"reasons"`
			} `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal([]byte(readSite(t, out, "changesets.geojson")), &gj); err != nil || len(gj.Features) != 2 {
		t.Fatalf("geojson: %v %+v", err, gj)
	}
	stats := readSite(t, out, "stats.html")
	if !strings.Contains(stats, "<svg") || !strings.Contains(stats, "Changesets per label") {
		t.Error("stats.html has no charts")
	}
	a, _ := os.Stat(filepath.Join(out, "current", "changesets", "101.html"))

	// Nothing changed: nothing is rendered, no changeset file is written again.
	time.Sleep(10 * time.Millisecond) // past the overlap
	res = publishT(t, db.Pool, out, false)
	if res.Full || res.Rendered != 0 || res.Changesets != 3 || res.Linked == 0 {
		t.Fatalf("unchanged run: %+v", res)
	}
	if target, _ := os.Readlink(filepath.Join(out, "current")); target != "site" {
		t.Fatalf("current -> %q, want site", target)
	}
	b, _ := os.Stat(filepath.Join(out, "current", "changesets", "101.html"))
	if !os.SameFile(a, b) || !a.ModTime().Equal(b.ModTime()) {
		t.Error("an unchanged page was written again")
	}

	// A label added to 103, a new changeset 105, and 102 falls out of the window.
	time.Sleep(10 * time.Millisecond)
	if _, err := db.Pool.Exec(ctx, `INSERT INTO changeset_labels VALUES (103, 'shops', 'filter', '{"rule":"shops"}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE changesets SET created_at = now() - interval '30 days' WHERE id = 102`); err != nil {
		t.Fatal(err)
	}
	insertSeed(t, db.Pool, seed{ID: 105, User: "dave", UID: 4, Created: now.Add(-time.Minute), Tags: map[string]string{"comment": "new"}})
	res = publishT(t, db.Pool, out, false)
	if res.Full || res.Rendered != 2 || res.Changesets != 3 || res.Removed != 1 {
		t.Fatalf("incremental run: %+v", res)
	}
	if exists(out, "changesets/102.html") || exists(out, "users/2.html") {
		t.Error("pages past retention were not removed")
	}
	if !strings.Contains(readSite(t, out, "labels/shops.html"), "changesets/103.html") {
		t.Error("label page not updated")
	}
	if !strings.Contains(readSite(t, out, "index.html"), "changesets/105.html") {
		t.Error("index not updated")
	}
	if res.WindowScan {
		t.Error("the incremental run read the whole window: only the changed changesets should be")
	}

	// A changeset deleted (prune): its row is gone, nothing changed, yet it leaves the site.
	time.Sleep(10 * time.Millisecond)
	if _, err := db.Pool.Exec(ctx, `DELETE FROM changesets WHERE id = 103`); err != nil {
		t.Fatal(err)
	}
	res = publishT(t, db.Pool, out, false)
	if res.Full || !res.WindowScan || res.Rendered != 0 || res.Changesets != 2 || res.Removed != 1 {
		t.Fatalf("run after a deletion: %+v", res)
	}
	if exists(out, "changesets/103.html") || strings.Contains(readSite(t, out, "labels/shops.html"), "changesets/103.html") {
		t.Error("a deleted changeset is still on the site")
	}
	// One tree, no build folders, no temporary files left.
	if _, err := os.Stat(filepath.Join(out, "builds")); !os.IsNotExist(err) {
		t.Errorf("builds/ exists: %v", err)
	}
	filepath.WalkDir(filepath.Join(out, "site"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})

	// --full renders everything again and gives the same pages.
	res = publishT(t, db.Pool, out, true)
	if !res.Full || res.Rendered != 2 {
		t.Fatalf("full run: %+v", res)
	}
}

// TestPublishAsReadOnlyRole runs publish as a role that has only SELECT.
func TestPublishAsReadOnlyRole(t *testing.T) {
	db := dbtest.PG(t)
	admin := dbtest.Require(t, dbtest.EnvPGAdmin)[0]
	ctx := context.Background()
	insertSeed(t, db.Pool, seed{ID: 201, User: "erin", UID: 5, Created: time.Now().Add(-time.Hour), Doc: testDoc(201, "erin", 10, 50),
		Labels: map[string]any{"big": map[string]any{"rule": "big"}}, BBox: &[4]float64{10, 50, 10.01, 50.01}})
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	role := "ro_" + db.Name
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN PASSWORD 'ro'`,
		`GRANT CONNECT ON DATABASE ` + db.Name + ` TO ` + role,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+db.Name+` WITH (FORCE)`)
			c.Exec(context.Background(), `DROP ROLE IF EXISTS `+role)
			c.Close(context.Background())
		}
	})
	c, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = store.GrantReadOnly(ctx, c.Conn(), role)
	c.Release()
	if err != nil {
		t.Fatal(err)
	}
	ro, err := store.Open(ctx, db.URLAs(role, "ro"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Exec(ctx, `UPDATE changesets SET tags = '{}'`); err == nil {
		t.Fatal("the role can write: the test proves nothing")
	}
	out := t.TempDir()
	res, err := Publish(ctx, ro, Options{Publish: testConfig(t).Publish, Out: out, LeafletDir: leafletForTest(t),
		Status: func(ctx context.Context) (*status.Report, error) { return status.Collect(ctx, ro, status.Options{}) }})
	if err != nil {
		t.Fatalf("publish as read-only role: %v", err)
	}
	if res.Changesets != 1 || !exists(out, "changesets/201.html") {
		t.Fatalf("read-only publish: %+v", res)
	}
	if st := readSite(t, out, "status.html"); !strings.Contains(st, "Changesets by state") {
		t.Error("status page incomplete")
	}
}

func TestSlugAndPaths(t *testing.T) {
	for _, s := range []string{"../../etc/passwd", "..", ".", "", "a/b", "x\x00y", strings.Repeat("ü", 100), "<script>", "CON", "label with spaces"} {
		sl := slug(s)
		if err := cleanRel("labels/" + sl + ".html"); err != nil || strings.ContainsAny(sl, "/\\.") || sl == "" {
			t.Errorf("slug(%q) = %q unsafe", s, sl)
		}
		if err := cleanRel(regionPage(s, 2)); err != nil || cleanRel(regionFile(s)) != nil || !strings.HasPrefix(regionFile(s), "regions/") {
			t.Errorf("region page of %q: %q unsafe", s, regionFile(s))
		}
	}
	if slug("a b") == slug("a-b") || slug("Shops") == slug("shops") {
		t.Error("distinct names share a slug")
	}
	for _, bad := range []string{"../x", "a/../../x", "/etc/passwd", "a//b", "./a", ""} {
		if cleanRel(bad) == nil {
			t.Errorf("cleanRel(%q) accepted", bad)
		}
	}
}

// A publish right after another (every row updated within the overlap) renders nothing that
// did not change, and renders what did.
func TestPublishIncrementalWithinOverlap(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i := int64(0); i < 5; i++ {
		insertSeed(t, db.Pool, seed{ID: 500 + i, User: "alice", UID: 1, Created: now.Add(-time.Duration(i+1) * time.Hour),
			Tags: map[string]string{"comment": "edit"}, BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, Doc: testDoc(500+i, "alice", 13.4, 52.5)})
	}
	out := t.TempDir()
	publish := func() *Result {
		t.Helper()
		res, err := Publish(ctx, db.Pool, Options{Publish: testConfig(t).Publish, Out: out, LeafletDir: leafletForTest(t), Overlap: 10 * time.Minute,
			Status: func(ctx context.Context) (*status.Report, error) {
				return status.Collect(ctx, db.Pool, status.Options{})
			}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := publish(); !res.Full || res.Rendered != 5 {
		t.Fatalf("first run: %+v", res)
	}
	res := publish()
	if res.Full || res.Rendered != 0 || res.Changesets != 5 {
		t.Fatalf("second run, nothing changed: %+v", res)
	}
	feedEntry := func() (id, updated string) {
		var f struct {
			Entries []struct {
				ID      string `xml:"id"`
				Updated string `xml:"updated"`
				Title   string `xml:"title"`
			} `xml:"entry"`
		}
		if err := xml.Unmarshal([]byte(readSite(t, out, "atom.xml")), &f); err != nil {
			t.Fatal(err)
		}
		for _, e := range f.Entries {
			if strings.Contains(e.Title, "#500 ") {
				return e.ID, e.Updated
			}
		}
		t.Fatalf("changeset 500 not in atom.xml: %+v", f.Entries)
		return "", ""
	}
	id0, up0 := feedEntry()
	time.Sleep(1100 * time.Millisecond) // <updated> has seconds
	if _, err := db.Pool.Exec(ctx, `UPDATE changesets SET tags = '{"comment":"edited again"}' WHERE id = 500`); err != nil {
		t.Fatal(err)
	}
	res = publish()
	// The feed entry keeps its id (absolute, a tag: URI) and changes its <updated>.
	id1, up1 := feedEntry()
	if id0 != id1 || id1 != "tag:osmtrack.invalid,2024:changeset:500" {
		t.Errorf("feed id changed or not a tag: URI: %q → %q", id0, id1)
	}
	if up0 == up1 {
		t.Errorf("<updated> did not change: %s", up1)
	}
	if res.Rendered != 1 || res.Changesets != 5 {
		t.Fatalf("third run, one changed: %+v", res)
	}
	if !strings.Contains(readSite(t, out, "changesets/500.html"), "edited again") {
		t.Error("the changed changeset was not rendered again")
	}
}

// The user card: the OSM API's details that analyse cached (osm_users) on the changeset page,
// with what this site has seen of the user on their page.
func TestUserCard(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i := int64(0); i < 3; i++ {
		insertSeed(t, db.Pool, seed{ID: 600 + i, User: "alice", UID: 1, Created: now.Add(-time.Duration(i+1) * time.Hour),
			Tags: map[string]string{"comment": "edit"}, BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, Doc: testDoc(600+i, "alice", 13.4, 52.5)})
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO osm_users (uid, day, display_name, changesets_count, blocks_received, blocks_active, account_created)
		VALUES (1, current_date - 3, 'alice', 5, 0, 0, now() - interval '400 days'), (1, current_date, 'alice', 7, 2, 1, now() - interval '400 days')`); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	publishT(t, db.Pool, out, false)
	cs := readSite(t, out, "changesets/600.html")
	for _, want := range []string{"About <bdi>alice</bdi>", "Account created " + now.AddDate(0, 0, -400).Format("2006-01-02"), "(13 months old at this edit)",
		"7 changesets on OpenStreetMap", "blocks: 1 active, 2 received", "https://hdyc.neis-one.org/?alice", "osmcha.org/?filters=", `href="users/1.html"`} {
		if !strings.Contains(cs, want) {
			t.Errorf("changesets/600.html lacks %q", want)
		}
	}
	up := readSite(t, out, "users/1.html")
	if !strings.Contains(up, "Here: 3 changesets since") || !strings.Contains(up, "3 with a reason to look") {
		t.Errorf("users/1.html lacks the counts seen here")
	}
}

// The discussion is shown; a comment of one of publish.reviewers marks the changeset reviewed,
// and the review queue leaves it out by default.
func TestDiscussionAndReviewed(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i := int64(0); i < 2; i++ {
		insertSeed(t, db.Pool, seed{ID: 700 + i, User: "alice", UID: 1, Created: now.Add(-time.Duration(i+1) * time.Hour),
			Tags: map[string]string{"comment": "edit"}, BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, Doc: testDoc(700+i, "alice", 13.4, 52.5)})
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO changeset_comments (changeset_id, idx, uid, username, created_at, text) VALUES
		(700, 0, 5, 'bob', now() - interval '50 minutes', 'Why did you delete the bakery?'),
		(700, 1, 6, 'Rita', now() - interval '40 minutes', 'Checked on the ground: fine.')`); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Publish.Reviewers = []string{"rita"}
	out := t.TempDir()
	if _, err := Publish(ctx, db.Pool, Options{Publish: cfg.Publish, Out: out, LeafletDir: leafletForTest(t), Overlap: time.Millisecond,
		Status: func(ctx context.Context) (*status.Report, error) {
			return status.Collect(ctx, db.Pool, status.Options{})
		}}); err != nil {
		t.Fatal(err)
	}
	cs := readSite(t, out, "changesets/700.html")
	for _, want := range []string{"<bdi>Why did you delete the bakery?</bdi>", "<bdi>Checked on the ground: fine.</bdi>", `class="reviewer"`, "✓ reviewed by <bdi>Rita</bdi>"} {
		if !strings.Contains(cs, want) {
			t.Errorf("changesets/700.html lacks %q", want)
		}
	}
	if strings.Contains(readSite(t, out, "changesets/701.html"), "reviewed by") {
		t.Error("701 marked reviewed")
	}
	rv := readSite(t, out, "review.html")
	if strings.Contains(rv, "changesets/700.html") || !strings.Contains(rv, "changesets/701.html") {
		t.Error("review.html lists the reviewed changeset, or not the other one")
	}
	if !strings.Contains(readSite(t, out, "review/"+now.Add(-time.Hour).Format("2006-01-02")+".json"), `"v":true`) &&
		!strings.Contains(readSite(t, out, "review/"+now.Format("2006-01-02")+".json"), `"v":true`) {
		t.Error("the shard does not flag the reviewed changeset")
	}
}

// TestPublishLayoutRecovery: a site of the previous layout (builds/ and a symlink to one) is
// replaced by the tree in a full run; a run that did not finish (no state) makes the next run
// a full one, which removes what is not part of the site.
func TestPublishLayoutRecovery(t *testing.T) {
	db := dbtest.PG(t)
	insertSeed(t, db.Pool, seed{ID: 501, User: "alice", UID: 1, Created: time.Now().UTC().Add(-time.Hour), Tags: map[string]string{"comment": "x"}})
	out := t.TempDir()
	old := filepath.Join(out, "builds", "20260101T000000.000Z-abcdef")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(old, "index.html"), []byte("old site"), 0o644)
	if err := os.Symlink(filepath.Join("builds", filepath.Base(old)), filepath.Join(out, "current")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	res := publishT(t, db.Pool, out, false)
	if !res.Full || res.Rendered != 1 {
		t.Fatalf("first run over the old layout: %+v", res)
	}
	if target, _ := os.Readlink(filepath.Join(out, "current")); target != "site" {
		t.Errorf("current -> %q", target)
	}
	if _, err := os.Stat(filepath.Join(out, "builds")); !os.IsNotExist(err) {
		t.Errorf("builds/ kept: %v", err)
	}
	if !strings.Contains(readSite(t, out, "index.html"), "changesets/501.html") {
		t.Error("index.html is not the new site's")
	}

	// A killed run: some files written, the state removed, leftovers in the tree.
	os.WriteFile(filepath.Join(out, "site", "stray.html"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(out, "site", "changesets", "999.html"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(out, "site", "changesets", tmpPrefix+"1-501.html"), []byte("half"), 0o644)
	if err := os.Remove(filepath.Join(out, "state", "meta.gob")); err != nil {
		t.Fatal(err)
	}
	res = publishT(t, db.Pool, out, false)
	if !res.Full || res.Rendered != 1 {
		t.Fatalf("run after a killed one: %+v", res)
	}
	if exists(out, "stray.html") || exists(out, "changesets/999.html") || exists(out, "changesets/"+tmpPrefix+"1-501.html") {
		t.Error("the full run left files that are not part of the site")
	}
	if !exists(out, "changesets/501.html") {
		t.Error("the full run removed a changeset's page")
	}
	// And then incremental again.
	time.Sleep(10 * time.Millisecond)
	if res = publishT(t, db.Pool, out, false); res.Full || res.Rendered != 0 {
		t.Fatalf("run after the full one: %+v", res)
	}
}

// With regions configured, the second run is incremental: writing regions.geojson must not
// come before the previous state is read (the first write removes the state). The demo's
// second publish was a full one because of that.
func TestPublishIncrementalWithRegions(t *testing.T) {
	db := dbtest.PG(t)
	now := time.Now().UTC()
	insertSeed(t, db.Pool, seed{ID: 501, User: "alice", UID: 1, Created: now.Add(-2 * time.Hour), Tags: map[string]string{"comment": "bench"},
		BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, Doc: testDoc(501, "alice", 13.4, 52.5)})
	cfg, err := config.Parse([]byte("regions:\n  berlin:\n    geojson: {type: Polygon, coordinates: [[[13.3, 52.4], [13.6, 52.4], [13.6, 52.6], [13.3, 52.6], [13.3, 52.4]]]}\n"+
		"publish:\n  title: test site\n  page_size: 5\n  days: 7\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	time.Sleep(10 * time.Millisecond)
	publish := func() *Result {
		t.Helper()
		res, err := Publish(context.Background(), db.Pool, Options{Publish: cfg.Publish, Regions: testRegions(t, cfg), Out: out,
			LeafletDir: leafletForTest(t), Overlap: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := publish(); !res.Full || res.Rendered != 1 {
		t.Fatalf("first run: %+v", res)
	}
	if !exists(out, "regions.geojson") {
		t.Fatal("no regions.geojson")
	}
	time.Sleep(10 * time.Millisecond)
	if res := publish(); res.Full || res.Rendered != 0 {
		t.Errorf("second run with nothing changed: full %v, %d pages rendered; want an incremental run rendering none", res.Full, res.Rendered)
	}
}
