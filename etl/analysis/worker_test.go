package analysis

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/rules"
)

// TestAnalyseRulesSeePreviousVersions: a rule that combines a reason with `element: {old:
// true}` answers in analyse as everywhere else (changeset.Build): analyse used to give its
// rules the element versions without their previous versions, so "removed a name, and asked
// for a review" never matched there while the same element predicate matched in filter and
// `rules test`. The label and its evidence are those the builder gives over the same versions
// in memory.
func TestAnalyseRulesSeePreviousVersions(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	ps := &PGStore{DB: db.Pool}
	// node/9 v1 (changeset 5, done) has a name; changeset 60 removes it and asks for a review.
	v1 := nodes("create", 1, 9, map[string]string{"name": "Alte Mühle"})
	v1[0].Changeset = 5
	v2 := nodes("modify", 1, 9, map[string]string{})
	v2[0].Changeset = 60
	if err := ps.Put(ctx, append(v1, v2...)); err != nil {
		t.Fatal(err)
	}
	insertChangeset(t, db.Pool, 5, "done", false, map[string]string{"created_by": "iD"})
	insertChangeset(t, db.Pool, 60, "filtered", false, map[string]string{"created_by": "iD", "review_requested": "yes", "changesets_count": "500"})
	src := "labels:\n  - label: unnamed-review\n    all:\n      - reason: review_requested\n      - element: {action: modify, key: name, old: true}\n"
	rs, err := rules.Parse([]byte(src), "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	w := workerFor(t, db.Pool, nil, nil)
	w.Rules = rs
	if st, err := w.Run(ctx); err != nil || st.Analysed != 1 {
		t.Fatalf("run: %+v %v", st, err)
	}
	var ev []byte
	if err := db.Pool.QueryRow(ctx, `SELECT evidence FROM changeset_labels WHERE changeset_id = 60 AND label = 'unnamed-review' AND source = 'analyse'`).Scan(&ev); err != nil {
		t.Fatalf("label unnamed-review not written by analyse: %v", err)
	}
	var got rules.Label
	if err := json.Unmarshal(ev, &got); err != nil {
		t.Fatal(err)
	}

	// The same versions through the builder in memory, as `rules test` reads its files.
	mem := &elements.Mem{}
	for _, e := range append(v1, v2...) {
		se := elements.Element{Type: e.Type, ID: e.ID, Version: e.Version, Changeset: e.Changeset, Visible: e.Visible,
			HasCoords: e.HasCoords, Lat: e.Lat, Lon: e.Lon, Action: e.Action, Tags: e.Tags}
		if err := mem.Write(ctx, []elements.Element{se}, elements.SourceAPI, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	css, err := changeset.Build(ctx, mem, nil, []changeset.Meta{{ID: 60, Known: true}})
	if err != nil {
		t.Fatal(err)
	}
	css[0].Reasons = []string{"review_requested"}
	want, _ := rs.Evaluate(css[0], rules.PhaseAnalyse)
	if len(want) != 1 || !reflect.DeepEqual(got, want[0]) {
		t.Errorf("analyse wrote %+v\nthe builder gives %+v", got, want)
	}
	if len(got.Evidence) != 2 || got.Evidence[1].Element != "node/9 v2" {
		t.Errorf("evidence %+v, want the reason and node/9 v2", got.Evidence)
	}
}
