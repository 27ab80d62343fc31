package site

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/osmtrack/osmtrack/etl/analysis"
	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// Hostile strings: markup, attribute break-outs, javascript: URLs, an RTL override and a
// 10,000-character string.
var (
	hScript = `<script>alert("script")</script>`
	hImg    = `"><img src=x onerror=alert("img")>`
	hJS     = `javascript:alert("js")`
	hRTL    = "\u202Egnp.exe\u202C"
	hLong   = strings.Repeat("W", 10000)
	hostile = hScript + hImg + hJS + hRTL
)

// seedHostile inserts a normal changeset (id 301, 5 map features) and a hostile one (id 302).
func seedHostile(t *testing.T) *dbtest.DB {
	db := dbtest.PG(t)
	now := time.Now().UTC()
	insertSeed(t, db.Pool, seed{ID: 301, User: "alice", UID: 1, Created: now.Add(-2 * time.Hour),
		Tags: map[string]string{"comment": "Added a bench and a street", "created_by": "JOSM/1.5"}, BBox: &[4]float64{13.399, 52.498, 13.402, 52.501},
		Labels: map[string]any{"roads": map[string]any{"rule": "roads", "predicate": "highway=*", "detail": map[string]any{"matched": []any{"way/3012"}}}},
		Doc:    testDoc(301, "alice", 13.4, 52.5)})

	doc := testDoc(302, hostile, 13.41, 52.51)
	doc.Changeset.Comment = hostile + hLong
	doc.Elements[0].TagsAdded = map[string]string{hScript: hImg + hLong, "website": hJS}
	doc.Elements[0].Label = hostile
	doc.Elements[2].TagsChanged = map[string][2]string{"name": {hImg, hScript}}
	doc.Elements[2].PrevUser = hostile
	doc.Reasons = append(doc.Reasons, analysis.Reason{Code: hScript, Text: hostile + hLong,
		Evidence: map[string]any{hImg: hJS, "nested": []any{hScript, map[string]any{"x": hLong}}}})
	doc.OtherUsers = []analysis.OtherUser{{User: hostile, UID: 0, Modified: 1, Count: 1}}
	doc.TagSummary.Added[hScript] = 1
	doc.LengthM["highway="+hImg] = analysis.Length{Created: 5}
	f := geojson.NewFeature(orb.Point{13.415, 52.515})
	f.Properties = geojson.Properties{"action": hScript, "type": hImg, "id": 1, "state": hJS}
	doc.Geometry.Append(f) // drawn as "modify": 6 features on this page
	insertSeed(t, db.Pool, seed{ID: 302, User: hostile + hLong, UID: 0, Created: now.Add(-time.Hour),
		Tags: map[string]string{"comment": hostile + hLong, "created_by": hImg, "source": hJS, hScript: hRTL, "hashtags": hScript + ";" + hJS},
		BBox: &[4]float64{13.409, 52.508, 13.416, 52.516},
		Labels: map[string]any{
			"../../" + hScript: map[string]any{"rule": hScript, "predicate": hImg, "detail": hJS + hLong},
			"roads":            map[string]any{"rule": "roads"},
		},
		Doc: doc})
	// A hostile discussion.
	if _, err := db.Pool.Exec(context.Background(), `INSERT INTO changeset_comments (changeset_id, idx, uid, username, created_at, text) VALUES (302, 0, 9, $1, now(), $2)`,
		hostile, hostile+hLong); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestHostileInputRendersInert(t *testing.T) {
	db := seedHostile(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "site")
	res := publishT(t, db.Pool, out, false)
	if res.Changesets != 2 {
		t.Fatalf("%+v", res)
	}
	// Nothing was created outside the output folder.
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("files outside the output folder: %v", entries)
	}
	build, err := filepath.EvalSymlinks(filepath.Join(out, "current"))
	if err != nil {
		t.Fatal(err)
	}
	rawMarkup := regexp.MustCompile(`(?i)<script>alert|<img|<svg onload`)
	jsHref := regexp.MustCompile(`(?i)(href|src)\s*=\s*["']?\s*javascript:`)
	pages := 0
	err = filepath.WalkDir(build, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(build, p)
		if strings.HasPrefix(rel, "..") {
			t.Errorf("file outside the build: %s", p)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t.Errorf("symlink in the build: %s", rel)
		}
		if d.IsDir() || strings.HasPrefix(rel, "assets") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(b)
		ext := filepath.Ext(p)
		if ext == ".html" || ext == ".atom" || ext == ".xml" {
			pages++
			if m := rawMarkup.FindString(s); m != "" {
				t.Errorf("%s: raw hostile markup %.200q", rel, m)
			}
			if m := jsHref.FindString(s); m != "" {
				t.Errorf("%s: javascript: URL %.200q", rel, m)
			}
		}
		if ext == ".html" {
			// Long strings are cut in lists; the changeset page may show them in full, but
			// every page stays bounded.
			if len(b) > 400_000 {
				t.Errorf("%s: %d bytes", rel, len(b))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages < 10 {
		t.Fatalf("only %d pages checked", pages)
	}
	// The hostile label and user got safe file names.
	labels, _ := os.ReadDir(filepath.Join(build, "labels"))
	found := false
	for _, e := range labels {
		if strings.HasPrefix(e.Name(), "script-alert-script-script-") {
			found = true
		}
		if strings.ContainsAny(e.Name(), `<>"/\`) {
			t.Errorf("unsafe file name %q", e.Name())
		}
	}
	if !found {
		t.Errorf("hostile label page missing: %v", labels)
	}
	// The hostile text is there, escaped, on the changeset page.
	cs := readSite(t, out, "changesets/302.html")
	if !strings.Contains(cs, "&lt;script&gt;alert(&#34;script&#34;)&lt;/script&gt;") {
		t.Error("hostile comment not shown escaped")
	}
	if !strings.Contains(cs, "<bdi>") {
		t.Error("user text is not isolated with <bdi>")
	}
	_ = context.Background()
}
