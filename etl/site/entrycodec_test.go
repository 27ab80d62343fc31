package site

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestEntryCodecRoundTrip(t *testing.T) {
	if n := reflect.TypeOf(Entry{}).NumField(); n != entryFields {
		t.Fatalf("Entry has %d fields, the state codec knows %d: teach appendEntry and entryReader.entry the new field, then entryFields", n, entryFields)
	}
	berlin := time.FixedZone("", 3600) // a zone by offset: what time.Time.UnmarshalBinary restores
	full := &Entry{ID: 123456789, User: "Zoë ✓", UID: 42, Time: time.Date(2026, 11, 3, 4, 5, 6, 789, time.UTC), Day: "2026-11-03",
		Comment: "fix <b>roads</b>", Editor: "iD 2.30", Hashtags: []string{"#osm", ""}, Labels: []string{"roads", "shops"},
		Reasons: []ReasonBrief{{"deleted-shop", "Deleted a shop"}, {"other-users", "Edited others' work"}},
		Status:  []Badge{{"done", "done", "analysed"}}, State: "done", Counts: [3][3]int{{1, 2, 3}, {4, 5, 6}, {7, 8, -9}}, Totals: [3]int{6, 15, 6},
		HasTypes: true, RoadCreatedM: 12.5, RoadDeletedM: -0.25, BBox: &[4]float64{13.4, 52.5, 13.41, 52.51},
		Updated: time.Date(2026, 11, 3, 5, 0, 0, 0, berlin),
		HTMLAt:  1 << 40, HTMLLen: 5000, Hash: 1<<64 - 1, Data: 1<<63 + 5, Severity: -1, InQueue: true, Codes: []string{"deleted-shop", "other-users"}, PageSum: 7, JSONSum: 8, Sum: 9, Version: "1/2/3", Regions: []string{"berlin"},
		InRegions: []string{}, Bot: true, Open: true, LabelDesc: map[string]string{"roads": "Roads", "shops": ""}, CommentsCount: 3,
		ReviewedBy: "rev", ReviewedAt: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), ReviewedText: "ok"}
	es := []*Entry{full, {ID: 1}, {ID: 2, LabelDesc: map[string]string{}}}
	data := appendEntries(nil, es)
	got, err := decodeEntries(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, es) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got[0], es[0])
	}
	// Every truncation is an error, never a panic or a short list.
	for i := 0; i < len(data); i++ {
		if _, err := decodeEntries(data[:i]); !errors.Is(err, errShortEntries) {
			t.Fatalf("truncated to %d of %d bytes: err %v", i, len(data), err)
		}
	}
	if _, err := decodeEntries(append(data, 0)); err == nil {
		t.Fatal("trailing byte: no error")
	}
}
