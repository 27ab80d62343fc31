package site

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/analysis"
)

// TestEntryDataCoversShards changes each field of an entry in turn: whenever the change shows
// in the review or map shards or in changesets.geojson, Entry.Data must change too (those
// files are written only when the fingerprint of their entries' Data changes).
func TestEntryDataCoversShards(t *testing.T) {
	c := testConfig(t)
	c.Publish.ReviewLabels = []string{"shops"}
	p := &publisher{pc: c.Publish}
	base := Entry{ID: 101, User: "alice", UID: 1, Time: time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC), Day: "2026-11-03",
		Comment: "fix roads", Editor: "iD 2.30", Hashtags: []string{"#osm"}, Labels: []string{"roads"},
		Reasons: []ReasonBrief{{"deleted-shop", "Deleted a shop"}}, Status: []Badge{{"done", "done", "analysed"}}, State: "done",
		Counts: [3][3]int{{1, 0, 0}, {0, 2, 0}, {0, 0, 3}}, Totals: [3]int{1, 2, 3}, HasTypes: true, RoadCreatedM: 12,
		BBox: &[4]float64{13.4, 52.5, 13.41, 52.51}, Updated: time.Date(2026, 11, 3, 5, 0, 0, 0, time.UTC),
		Regions: []string{"berlin"}, InRegions: []string{"berlin"}, LabelDesc: map[string]string{"roads": "Roads"}, CommentsCount: 1}
	shown := func(e Entry) []byte {
		classify(&c.Publish, &e)
		var r, m reviewItem
		p.reviewItem(&e, &r)
		p.mapItem(&e, &m)
		g, err := geoJSONBytes("https://osm.example.org/", []*Entry{&e})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal([]any{r, m})
		if err != nil {
			t.Fatal(err)
		}
		return append(b, g...)
	}
	sum := func(e Entry) uint64 {
		classify(&c.Publish, &e)
		return e.dataSum()
	}
	baseShown, baseSum := shown(base), sum(base)
	typ := reflect.TypeOf(base)
	visible := 0
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		e := base
		v := reflect.ValueOf(&e).Elem().Field(i)
		switch x := v.Addr().Interface().(type) {
		case *string:
			*x += "x"
		case *int64:
			*x++
		case *int:
			*x++
		case *int32:
			*x++
		case *uint64:
			*x++
		case *float64:
			*x += 0.5
		case *bool:
			*x = !*x
		case *time.Time:
			*x = x.Add(time.Hour)
		case *[]string:
			*x = append(append([]string{}, *x...), "zz")
		case *[]ReasonBrief:
			*x = append(append([]ReasonBrief{}, *x...), ReasonBrief{"new-user", "New"})
		case *[]Badge:
			*x = append(append([]Badge{}, *x...), Badge{"open", "open", ""})
		case *[3][3]int:
			x[0][0]++
		case *[3]int:
			x[0]++
		case **[4]float64:
			*x = &[4]float64{13.5, 52.5, 13.51, 52.51}
		case *map[string]string:
			*x = map[string]string{"shops": "Shops"}
		default:
			t.Fatalf("field %s (%s): teach the test to change it", f.Name, f.Type)
		}
		if bytes.Equal(shown(e), baseShown) {
			continue
		}
		visible++
		if sum(e) == baseSum {
			t.Errorf("a change of %s shows in the shards or the GeoJSON, but Entry.Data stays the same", f.Name)
		}
	}
	if visible < 10 {
		t.Fatalf("only %d fields show in the shards: the test lost its grip", visible)
	}
}

// TestDecodeDocAgrees: decodeDoc (goccy/go-json) gives what encoding/json gives, on the
// test documents, a hostile one, and edge cases of the JSON grammar; both refuse what one
// refuses.
func TestDecodeDocAgrees(t *testing.T) {
	hostileDoc := testDoc(302, hostile, 13.41, 52.51)
	hostileDoc.Changeset.Comment = hostile + hLong
	hostileDoc.Elements[0].TagsAdded = map[string]string{hScript: hImg + hLong, "website": hJS}
	hostileDoc.Reasons = append(hostileDoc.Reasons, analysis.Reason{Code: hScript, Text: hostile, Evidence: map[string]any{hImg: hJS, "n": []any{1.5e300, nil, true}}})
	var docs [][]byte
	for _, d := range []*analysis.Document{testDoc(1, "alice", 13.4, 52.5), testDoc(2, "Zoë ✓", -179.9, -89.9), hostileDoc} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	docs = append(docs,
		[]byte(`{"changeset":{"id":5,"comment":"\u00e9\ud83d\ude00 \u2028"},"reasons":[{"code":"a","evidence":{"k":[1,2,{"x":null}]}}]}`),
		[]byte(`{"changeset":{"id":5,"id":6},"unknown":{"deep":[[[]]]}}`),
		[]byte("{\"changeset\":{\"comment\":\"bad \xff utf-8\"}}"),
		[]byte(`{"changeset":{"id":"7"}}`),
		[]byte(`{"changeset":{"id":1e3}}`),
		[]byte(`{"changeset":`),
		[]byte(`[]`),
		[]byte(`null`),
	)
	for i, raw := range docs {
		want := &docView{}
		errWant := json.Unmarshal(raw, want)
		got, errGot := decodeDoc(raw)
		if (errWant != nil) != (errGot != nil) {
			t.Errorf("document %d: encoding/json error %v, decodeDoc error %v", i, errWant, errGot)
			continue
		}
		if errWant == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("document %d: decodeDoc differs from encoding/json:\n got %+v\nwant %+v", i, got, want)
		}
	}
}
