package site

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
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
		case *Thumb:
			x.Paths = []ThumbPath{{"create", "M0 0", false}}
		case *CountsView:
			x.Create++
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
