package site

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/osmtrack/osmtrack/etl/analysis"
	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/status"
)

// The maps with context: the region outline, a dragged node's line from old to new, no base
// map (publish.tile_url empty) said as such and without a tile credit, the overview clustered.
func TestBrowserMapContext(t *testing.T) {
	requireChromium(t)
	leafletForTest(t)
	db := dbtest.PG(t)
	now := time.Now().UTC()
	doc := testDoc(401, "alice", 13.4, 52.5)
	doc.Reasons = append(doc.Reasons, analysis.Reason{Code: "dragged_node", Text: "Node moved",
		Evidence: map[string]any{"moved_m": 1500.0, "threshold_m": 1000.0, "because": "way 4013 highway=service", "from": []any{13.39, 52.49}, "to": []any{13.4, 52.5},
			"ways": []any{map[string]any{"id": 4013, "label": "highway=service", "before": []any{[]any{13.39, 52.49}, []any{13.391, 52.489}}, "after": []any{[]any{13.4, 52.5}, []any{13.391, 52.489}}}}},
		Element: &analysis.ElementRef{Type: "node", ID: 4014, Version: 3}})
	insertSeed(t, db.Pool, seed{ID: 401, User: "alice", UID: 1, Created: now.Add(-time.Hour), Tags: map[string]string{"comment": "moved"},
		BBox: &[4]float64{13.39, 52.49, 13.402, 52.501}, Doc: doc})
	for i := int64(0); i < 5; i++ { // close together: one cluster at the overview's zoom
		insertSeed(t, db.Pool, seed{ID: 410 + i, User: "bob", UID: 2, Created: now.Add(-time.Duration(i+2) * time.Hour), Tags: map[string]string{"comment": "x"},
			BBox: &[4]float64{13.45 + float64(i)*0.0001, 52.45, 13.4501 + float64(i)*0.0001, 52.4501}, Doc: testDoc(410+i, "bob", 13.45, 52.45)})
	}
	// A changeset without reasons in the region (the newest: the region page lists it after
	// the flagged ones) and one outside it, older than the overview's 24 hours.
	clean := testDoc(430, "carol", 13.55, 52.58)
	clean.Reasons = nil
	insertSeed(t, db.Pool, seed{ID: 430, User: "carol", UID: 3, Created: now.Add(-30 * time.Minute), Tags: map[string]string{"comment": "clean", "bot": "yes"},
		Labels: map[string]any{"parks": map[string]any{}}, BBox: &[4]float64{13.55, 52.58, 13.551, 52.581}, Doc: clean})
	insertSeed(t, db.Pool, seed{ID: 440, User: "dave", UID: 4, Created: now.Add(-30 * time.Hour), Tags: map[string]string{"comment": "far away"},
		BBox: &[4]float64{10, 50, 10.001, 50.001}, Doc: testDoc(440, "dave", 10, 50)})
	cfg, err := config.Parse([]byte(`regions:
  berlin:
    geojson: {type: Polygon, coordinates: [[[13.3, 52.4], [13.6, 52.4], [13.6, 52.6], [13.3, 52.6], [13.3, 52.4]]]}
publish:
  title: test site
  tile_url: ""
  page_size: 5
  days: 7
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "site")
	if _, err := Publish(context.Background(), db.Pool, Options{Publish: cfg.Publish, Regions: testRegions(t, cfg), Out: out, LeafletDir: leafletForTest(t), Overlap: time.Millisecond,
		Status: func(ctx context.Context) (*status.Report, error) {
			return status.Collect(ctx, db.Pool, status.Options{})
		}}); err != nil {
		t.Fatal(err)
	}
	if !exists(out, "regions.geojson") {
		t.Fatal("no regions.geojson")
	}
	srv := httptest.NewServer(Handler(filepath.Join(out, "current")))
	defer srv.Close()
	ctx := startBrowser(t, 1200, 900)
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp=[];document.addEventListener('securitypolicyviolation',function(e){window.__csp.push(e.violatedDirective+' '+e.blockedURI)})`}); err != nil {
		t.Fatal(err)
	}
	shots := testOutDir(t)
	shot := func(name string) {
		if buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		}
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/changesets/401.html"), chromedp.WaitVisible(chromedp.CSS(`#map[data-features][data-regions-drawn]`))); err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.getElementById('map').getAttribute('data-features')`); got != "8" {
		t.Errorf("changeset map: %s features, want 8 (5, the dragged node's line, its parent way before and after)", got)
	}
	if got := eval(`String(document.querySelectorAll('#map path[stroke="#444444"]').length)`); got != "1" {
		t.Errorf("parent ways drawn: %s, want 1", got)
	}
	if got := eval(`document.getElementById('reasons').textContent`); strings.Contains(got, "ways") || strings.Contains(got, "13.391") {
		t.Errorf("the parent ways' coordinates are listed as evidence: %q", got)
	}
	if got := eval(`document.getElementById('map').getAttribute('data-regions-drawn')`); got != "1" {
		t.Errorf("region outlines drawn: %s", got)
	}
	if got := eval(`String(document.querySelectorAll('#map path[stroke="#e07b00"]').length)`); got != "1" {
		t.Errorf("dragged node lines: %s", got)
	}
	if got := eval(`document.getElementById('nobasemap').hidden ? "hidden" : document.getElementById('nobasemap').textContent`); !strings.Contains(got, "No base map") {
		t.Errorf("no-base-map note: %q", got)
	}
	if got := eval(`(document.querySelector('.leaflet-control-attribution')||{textContent:''}).textContent`); strings.Contains(got, "OpenStreetMap") {
		t.Errorf("a tile credit without tiles: %q", got)
	}
	shot("changeset-401-context")

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/map.html"), chromedp.WaitVisible(chromedp.CSS(`#map[data-clusters][data-regions-drawn]`))); err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.getElementById('map').getAttribute('data-features')`); got != "7" {
		t.Errorf("overview: %s changesets, want 7", got)
	}
	clusters := eval(`document.getElementById('map').getAttribute('data-clusters')`)
	if clusters != "3" {
		t.Errorf("overview: %s clusters, want 3 (two changesets alone, five together)", clusters)
	}
	if got := eval(`String(document.querySelectorAll('.cluster-icon').length)+"/"+String(document.querySelectorAll('.cluster-icon.flagged').length)`); got != "1/1" {
		t.Errorf("cluster icons (all/flagged): %s", got) // testDoc has reasons: every one is flagged
	}
	shot("map-context")

	// The overview's filters (filter.js, shared with the queue): the state in the URL, the
	// shards loaded as needed (440 is older than 24 hours: only with its day or "all days").
	day440 := now.Add(-30 * time.Hour).Format("2006-01-02")
	for _, c := range []struct{ query, want, flagged string }{
		{"", "7", "6"},
		{"?day=all", "8", "7"},
		{"?day=" + day440, "", ""}, // checked below: 440 is among them
		{"?user=bob", "5", "5"},
		{"?reason=dragged_node", "1", "1"},
		{"?label=parks", "1", "0"},
		{"?nobots=1", "6", "6"},
		{"?day=all&user=dave", "1", "1"},
		{"?q=far+away&day=all", "1", "1"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/map.html"+c.query), chromedp.WaitVisible(chromedp.CSS(`#qstatus[data-loaded="all"][data-count]`))); err != nil {
			t.Fatalf("map.html%s: %v", c.query, err)
		}
		got := eval(`document.getElementById('qstatus').getAttribute('data-count')+"/"+document.getElementById('qstatus').getAttribute('data-flagged')+"/"+document.getElementById('map').getAttribute('data-features')`)
		if c.want == "" {
			if n := eval(`String(window.osmtrackMap.count({day: "` + day440 + `", user: "dave"}))`); n != "1" {
				t.Errorf("map.html%s: dave's changeset of that day: %s", c.query, n)
			}
			continue
		}
		if want := c.want + "/" + c.flagged + "/" + c.want; got != want {
			t.Errorf("map.html%s: count/flagged/features %s, want %s", c.query, got, want)
		}
	}
	// Through the form: the URL follows.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/map.html"), chromedp.WaitVisible(chromedp.CSS(`#qstatus[data-loaded="all"][data-count]`)),
		chromedp.Click(`input[name="nobots"]`, chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(`#qstatus[data-count="6"]`))); err != nil {
		t.Fatal(err)
	}
	if got := eval(`location.search`); got != "?nobots=1" {
		t.Errorf("map.html URL after ticking hide bots: %q", got)
	}
	shot("map-filtered")

	// The region page: the outline and the region's changesets on the map, flagged first in
	// the list, a link to the queue preset to the region; linked from the index and the
	// changeset pages; 440 (outside) not on it.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/index.html"), chromedp.Click(`a[href="regions/berlin.html"]`, chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#map[data-clusters][data-regions-drawn]`))); err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.getElementById('map').getAttribute('data-features')`); got != "7" {
		t.Errorf("region map: %s changesets, want 7", got)
	}
	const order = `Array.from(document.querySelectorAll('article.entry h3 > a:first-child')).map(function(a){return a.textContent}).join(' ')`
	if got := eval(order); got != "#401 #410 #411 #412 #413" {
		t.Errorf("region page order: %q, want the flagged ones first (newest first; page_size 5)", got)
	}
	if got := eval(`document.querySelector('a[href="review.html?region=berlin"]') ? "yes" : "no"`); got != "yes" {
		t.Error("region page: no link to the queue filtered by the region")
	}
	if got := eval(`document.body.textContent.indexOf('#440') >= 0 ? "yes" : "no"`); got != "no" {
		t.Error("region page lists a changeset outside the region")
	}
	shot("region-berlin")
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/regions/berlin-p2.html"), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
		t.Fatal(err)
	}
	if got := eval(order); got != "#414 #430" {
		t.Errorf("region page 2: %q, want #414 #430 (the newest, #430, last: no reason)", got)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/changesets/430.html"), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.querySelector('a[href="regions/berlin.html"]') ? "yes" : "no"`); got != "yes" {
		t.Error("changeset page: no link to its region's page")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/changesets/440.html"), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.querySelector('a[href^="regions/"]') ? "yes" : "no"`); got != "no" {
		t.Error("a changeset outside every region links a region page")
	}
	checkNoMarkupAsText(t, ctx, srv.URL, filepath.Join(out, "current"))
}
