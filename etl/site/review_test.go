package site

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/analysis"
	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// startBrowser starts headless Chromium for a test (see TestBrowser for the flags).
func startBrowser(t testing.TB, width, height int) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// seedQueue inserts 40 changesets over three days: reasons, labels, users, editors, bots, open
// ones and sizes vary; a quarter have no reason (not in the queue).
func seedQueue(t *testing.T) *dbtest.DB {
	db := dbtest.PG(t)
	now := time.Now().UTC().Truncate(24 * time.Hour).Add(12 * time.Hour)
	if now.After(time.Now()) {
		now = now.Add(-24 * time.Hour)
	}
	codes := []string{"dragged_node", "mass_deletion", "new_mapper", "suspect_word"}
	users := []string{"alice", "bob", "MapBot", "carol"}
	editors := []string{"iD 2.30", "JOSM/1.5", "StreetComplete 58"}
	for i := int64(0); i < 40; i++ {
		id := 1000 + i
		doc := testDoc(id, users[i%4], 13.4, 52.5)
		doc.Reasons = nil
		doc.Counts = analysis.Counts{Create: analysis.TypeCounts{Node: int(i * 3)}, Total: int(i * 3)} // as num_create below
		if i%4 != 3 {
			doc.Reasons = append(doc.Reasons, analysis.Reason{Code: codes[i%4], Text: "reason " + codes[i%4], Evidence: map[string]any{}})
		}
		if i%5 == 0 {
			doc.Reasons = append(doc.Reasons, analysis.Reason{Code: "suspect_word", Text: "import", Evidence: map[string]any{"field": "comment", "words": []any{"import"}}})
		}
		labels := map[string]any{}
		if i%3 == 0 {
			labels["roads"] = map[string]any{"label": "roads", "evidence": []any{map[string]any{"predicate": "region", "detail": "in Berlin", "region": "berlin"}}}
		}
		if i%7 == 0 {
			labels["shops"] = map[string]any{"label": "shops", "evidence": []any{map[string]any{"predicate": "tag shop=*", "detail": "shop=bakery"}}}
		}
		tags := map[string]string{"comment": fmt.Sprintf("edit %d %s", i, []string{"fix road", "import buildings", "add shop"}[i%3]), "created_by": editors[i%3]}
		insertSeed(t, db.Pool, seed{ID: id, User: users[i%4], UID: int64(i%4 + 1), Created: now.Add(-time.Duration(i) * 90 * time.Minute),
			Tags: tags, Open: i%6 == 0, BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, Labels: labels, Doc: doc})
		if _, err := db.Pool.Exec(context.Background(), `UPDATE changesets SET num_create = $2, num_modify = 0, num_delete = 0 WHERE id = $1`, id, i*3); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// queueCount is the oracle: the number of changesets in the queue matching a filter, counted
// in SQL over the same window.
func queueCount(t *testing.T, pool *pgxpool.Pool, f map[string]string) int {
	t.Helper()
	q := `SELECT count(*) FROM changesets c JOIN analyses a ON a.changeset_id = c.id
		WHERE c.state IN ('filtered', 'analysed', 'done', 'failed') AND coalesce(c.created_at, c.first_seen) >= now() - interval '7 days'
		AND cardinality(a.reasons) > 0`
	args := []any{}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if v := f["reason"]; v != "" {
		q += ` AND ` + arg(v) + ` = ANY(a.reasons)`
	}
	if v := f["label"]; v != "" {
		q += ` AND EXISTS (SELECT 1 FROM changeset_labels l WHERE l.changeset_id = c.id AND l.label = ` + arg(v) + `)`
	}
	if v := f["region"]; v != "" {
		q += ` AND EXISTS (SELECT 1 FROM changeset_labels l, jsonb_array_elements(l.evidence->'evidence') e WHERE l.changeset_id = c.id AND e->>'region' = ` + arg(v) + `)`
	}
	if v := f["user"]; v != "" {
		q += ` AND c.username ILIKE '%' || ` + arg(v) + ` || '%'`
	}
	if v := f["editor"]; v != "" {
		q += ` AND c.tags->>'created_by' ILIKE '%' || ` + arg(v) + ` || '%'`
	}
	if v := f["min"]; v != "" {
		n, _ := strconv.Atoi(v)
		q += ` AND c.num_create + c.num_modify + c.num_delete >= ` + arg(n)
	}
	if f["nobots"] == "1" {
		q += ` AND c.username !~* 'bot$'`
	}
	if f["open"] == "1" {
		q += ` AND c.open`
	}
	if v := f["q"]; v != "" {
		q += ` AND (c.tags->>'comment' ILIKE '%' || ` + arg(v) + ` || '%' OR c.username ILIKE '%' || ` + arg(v) + ` || '%')`
	}
	if v := f["day"]; v != "" {
		q += ` AND to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = ` + arg(v)
	}
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("oracle %v: %v", f, err)
	}
	return n
}

func TestReviewQueueFilters(t *testing.T) {
	requireChromium(t)
	leafletForTest(t)
	db := seedQueue(t)
	out := filepath.Join(t.TempDir(), "site")
	publishT(t, db.Pool, out, false)
	srv := httptest.NewServer(Handler(filepath.Join(out, "current")))
	defer srv.Close()
	ctx := startBrowser(t, 1200, 900)
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	_ = tctx

	// Without JavaScript the queue is a paged list of the same changesets (page_size 2).
	total := queueCount(t, db.Pool, nil)
	var idx reviewIndex
	if err := json.Unmarshal([]byte(readSite(t, out, "review/index.json")), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Total != total || total < 20 {
		t.Fatalf("review/index.json total %d, database %d", idx.Total, total)
	}
	if !exists(out, fmt.Sprintf("review-p%d.html", (total+1)/2)) || exists(out, fmt.Sprintf("review-p%d.html", (total+1)/2+1)) {
		t.Errorf("the no-JS queue does not have %d pages", (total+1)/2)
	}
	// Most severe first: mass_deletion (90) before dragged_node (70).
	r1 := readSite(t, out, "review.html")
	if i, j := strings.Index(r1, "mass deletion"), strings.Index(r1, "new mapper"); i < 0 || (j >= 0 && j < i) {
		t.Error("review.html is not most severe first")
	}

	day := time.Now().UTC().Format("2006-01-02")
	if queueCount(t, db.Pool, map[string]string{"day": day}) == 0 {
		day = time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02")
	}
	cases := []map[string]string{
		nil,
		{"reason": "dragged_node"},
		{"reason": "suspect_word"},
		{"label": "roads"},
		{"label": "shops", "reason": "mass_deletion"},
		{"region": "berlin"},
		{"user": "ali"},
		{"editor": "josm"},
		{"min": "60"},
		{"nobots": "1"},
		{"open": "1"},
		{"q": "import"},
		{"day": day},
		{"q": "road", "nobots": "1", "min": "10", "editor": "iD"},
	}
	for _, f := range cases {
		v := url.Values{}
		for k, x := range f {
			v.Set(k, x)
		}
		u := srv.URL + "/review.html"
		if len(v) > 0 {
			u += "?" + v.Encode()
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(`#qstatus[data-loaded="all"]`))); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('qstatus').getAttribute('data-count')`))
		if err != nil {
			t.Fatal(err)
		}
		want := queueCount(t, db.Pool, f)
		if got != strconv.Itoa(want) {
			t.Errorf("filter %v: the page shows %s, the database has %d", f, got, want)
		}
		rows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#qresults article').length`))
		if rows != min(want, 100) {
			t.Errorf("filter %v: %d rows listed, want %d", f, rows, min(want, 100))
		}
	}
	// Changing the form filters and puts the state into the URL.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/review.html"), chromedp.WaitVisible(chromedp.CSS(`#qstatus[data-loaded="all"]`)),
		chromedp.Evaluate[chromedp.Void](`(function(){var s=document.forms.filters.elements.reason;s.value='new_mapper';s.dispatchEvent(new Event('change',{bubbles:true}));var c=document.forms.filters.elements.nobots;c.checked=true;c.dispatchEvent(new Event('change',{bubbles:true}));return true})()`),
	); err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	if loc != "?reason=new_mapper&nobots=1" {
		t.Errorf("URL after filtering: %q", loc)
	}
	got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('qstatus').getAttribute('data-count')`))
	if want := queueCount(t, db.Pool, map[string]string{"reason": "new_mapper", "nobots": "1"}); got != strconv.Itoa(want) {
		t.Errorf("form filter: %s shown, %d in the database", got, want)
	}
	// Phone width: the queue fits.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(srv.URL+"/review.html?label=roads"), chromedp.WaitVisible(chromedp.CSS(`#qstatus[data-loaded="all"]`))); err != nil {
		t.Fatal(err)
	}
	over, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if over {
		t.Error("review.html is wider than a phone screen")
	}
	if d := os.Getenv("OSMTRACK_TEST_OUT"); d != "" {
		shots := testOutDir(t)
		buf, _ := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		os.WriteFile(filepath.Join(shots, "phone-review.png"), buf, 0o644)
		chromedp.Do(ctx, chromedp.EmulateViewport(1200, 900), chromedp.Navigate(srv.URL+"/review.html?reason=suspect_word"),
			chromedp.WaitVisible(chromedp.CSS(`#qstatus[data-loaded="all"]`)))
		buf, _ = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		os.WriteFile(filepath.Join(shots, "review.png"), buf, 0o644)
	}
}

// BenchmarkReviewFilter measures the queue's filter in headless Chromium over
// OSMTRACK_BENCH_CHANGESETS queued changesets (default 150,000: 30 days of a country-size
// region), spread over 30 day shards: the time from a filter change (the form's change event)
// to the list drawn, as ms/filter (median over a set of filter changes), and the largest shard.
//
//	go test -run '^$' -bench ReviewFilter -benchtime 1x ./etl/site/
func BenchmarkReviewFilter(b *testing.B) {
	requireChromiumTB(b)
	n := benchSize(b, 150000)
	db := dbtest.PG(b)
	insertSeed(b, db.Pool, seed{ID: 1, User: "alice", UID: 1, Created: time.Now().UTC().Add(-time.Hour), Tags: map[string]string{"comment": "x"},
		BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, Doc: testDoc(1, "alice", 13.4, 52.5)})
	out := filepath.Join(b.TempDir(), "site")
	if _, err := Publish(context.Background(), db.Pool, Options{Publish: testConfig(b).Publish, Out: out, LeafletDir: leafletForTest(b), Overlap: time.Millisecond}); err != nil {
		b.Fatal(err)
	}
	root, _ := filepath.EvalSymlinks(filepath.Join(out, "current"))
	// Synthetic shards: the shape publish writes, with realistic variety.
	codes := []string{"dragged_node", "mass_deletion", "new_mapper", "suspect_word", "possible_import", "no_editor", "large_building"}
	labels := []string{"roads", "shops", "buildings", "landuse", "names"}
	editors := []string{"iD 2.30", "JOSM/1.5", "StreetComplete 58", "Every Door", "Vespucci 20"}
	idx := reviewIndex{Reasons: map[string]string{}, Labels: labels, Regions: []string{"north", "south"}}
	for _, c := range codes {
		idx.Reasons[c] = reasonName(c)
	}
	start := time.Now().UTC().Truncate(24 * time.Hour)
	perDay := n / 30
	largest := 0
	for d := 0; d < 30; d++ {
		day := start.AddDate(0, 0, -d).Format("2006-01-02")
		items := make([]reviewItem, 0, perDay)
		for i := 0; i < perDay; i++ {
			k := d*perDay + i
			it := reviewItem{ID: int64(100000000 + k), Time: start.AddDate(0, 0, -d).Unix() + int64(i%86400), User: fmt.Sprintf("mapper%d", k%20000), UID: int64(k%20000 + 1),
				Editor: editors[k%5], Comment: fmt.Sprintf("Edited %d things near street %d #hashtag", k%37, k%1000), Reasons: []string{codes[k%7]},
				Changes: k % 500, Severity: []int{70, 90, 20, 40, 60, 10, 40}[k%7], Bot: k%50 == 0, Open: k%20 == 0}
			if k%3 == 0 {
				it.Labels = []string{labels[k%5]}
				it.Regions = []string{[]string{"north", "south"}[k%2]}
			}
			items = append(items, it)
		}
		data, _ := json.Marshal(items)
		if len(data) > largest {
			largest = len(data)
		}
		os.WriteFile(filepath.Join(root, "review", day+".json"), data, 0o644)
		idx.Days = append(idx.Days, reviewDay{Day: day, File: reviewShard(day), N: len(items)})
		idx.Total += len(items)
	}
	data, _ := json.Marshal(idx)
	os.WriteFile(filepath.Join(root, "review", "index.json"), data, 0o644)
	srv := httptest.NewServer(Handler(root))
	defer srv.Close()
	ctx := startBrowser(b, 1200, 900)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/review.html"), chromedp.WaitVisible(chromedp.CSS(`#qstatus[data-loaded="all"]`))); err != nil {
		b.Fatal(err)
	}
	loaded, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.osmtrackQueue.count({})`))
	if loaded != idx.Total {
		b.Fatalf("%d of %d changesets loaded", loaded, idx.Total)
	}
	// Each step changes one control; the time covers the filter and drawing the first 100.
	const stepJS = `(function(name, value){var f=document.forms.filters, el=f.elements[name];
		if (el.type==='checkbox') el.checked = value==='1'; else el.value=value;
		var t0=performance.now(); el.dispatchEvent(new Event(el.tagName==='SELECT'||el.type==='checkbox'?'change':'input',{bubbles:true}));
		return performance.now()-t0})`
	steps := [][2]string{{"reason", "dragged_node"}, {"label", "roads"}, {"nobots", "1"}, {"q", "street 12"}, {"user", "mapper1"}, {"reason", ""},
		{"editor", "josm"}, {"min", "100"}, {"open", "1"}, {"label", ""}, {"q", ""}, {"user", ""}, {"editor", ""}, {"min", ""}, {"open", ""}, {"nobots", ""}}
	var ms []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range steps {
			v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](fmt.Sprintf(`%s(%q,%q)`, stepJS, s[0], s[1])))
			if err != nil {
				b.Fatal(err)
			}
			ms = append(ms, v)
			if i == 0 {
				fm, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('qstatus').getAttribute('data-ms')+' ms filter, '+document.getElementById('qstatus').getAttribute('data-count')+' match'`))
				b.Logf("%s=%q: %.1f ms (%s)", s[0], s[1], v, fm)
			}
		}
	}
	b.StopTimer()
	sort.Float64s(ms)
	b.ReportMetric(ms[len(ms)/2], "ms/filter")
	b.ReportMetric(ms[len(ms)-1], "max-ms/filter")
	b.ReportMetric(float64(largest)/(1<<20), "largest-shard-MiB")
	b.Logf("%d changesets in 30 shards; filter change median %.1f ms, max %.1f ms; largest shard %d bytes", idx.Total, ms[len(ms)/2], ms[len(ms)-1], largest)
}

func requireChromiumTB(b testing.TB) {
	if _, err := os.Stat(chromiumPath); err != nil {
		b.Skip("chromium is not installed at " + chromiumPath)
	}
}
