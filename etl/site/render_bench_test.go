package site

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkRenderChangeset renders one changeset's entry and page from its stored document
// (no database, no files): the CPU part of publishing a changeset.
func BenchmarkRenderChangeset(b *testing.B) {
	tpl, err := getTemplates()
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(testDoc(1, "user", 13.4, 52.5))
	open := false
	r := &row{ID: 1, User: "user", UID: 1, Time: time.Now(), Tags: map[string]string{"comment": "edit", "created_by": "iD"},
		BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, State: "done", Open: &open, HasAnalysis: true, Complete: true, Doc: raw,
		Labels: []labelRow{{Label: "roads", Source: "filter", Evidence: json.RawMessage(`{"rule":"roads","predicate":"highway=*"}`)}}}
	p := &publisher{tpl: tpl, site: &siteInfo{Title: "t"}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		doc, err := decodeDoc(r.Doc)
		if err != nil {
			b.Fatal(err)
		}
		e := newEntry(r, doc)
		parts, err := tpl.renderParts(e)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tpl.renderEntry(e, parts, entryThumb(e, doc)); err != nil {
			b.Fatal(err)
		}
		v := newCSView(r, e, doc)
		v.Parts = parts
		if err := tpl.cacheFragments(v); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := tpl.render(&buf, "changeset", &page{Site: p.site, Root: "../", Title: "x", Map: true, Body: v, Feeds: p.entryFeeds(e)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderEntry renders one changeset's entry as the lists show it: list pages render
// their entries when they are written (entries keep no HTML in memory).
func BenchmarkRenderEntry(b *testing.B) {
	tpl, err := getTemplates()
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(testDoc(1, "user", 13.4, 52.5))
	open := false
	r := &row{ID: 1, User: "user", UID: 1, Time: time.Now(), Tags: map[string]string{"comment": "edit", "created_by": "iD"},
		BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, State: "done", Open: &open, HasAnalysis: true, Complete: true, Doc: raw,
		Labels: []labelRow{{Label: "roads", Source: "filter", Evidence: json.RawMessage(`{"rule":"roads","predicate":"highway=*"}`)}}}
	doc, err := decodeDoc(r.Doc)
	if err != nil {
		b.Fatal(err)
	}
	e := newEntry(r, doc)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		parts, err := tpl.renderParts(e)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tpl.renderEntry(e, parts, entryThumb(e, doc)); err != nil {
			b.Fatal(err)
		}
	}
}
