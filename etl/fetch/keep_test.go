package fetch

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/region"
)

// TestKeepMeta is which metadata of a changeset file fetch keeps, without a database: the last
// entry of each changeset; with regions, those the table has and those whose bbox intersects a
// region; without, all.
func TestKeepMeta(t *testing.T) {
	list, err := changeset.DecodeFeed(bytes.NewReader([]byte(`<osm>
<changeset id="3" created_at="2026-01-01T00:00:00Z" open="true" min_lat="52.5" max_lat="52.6" min_lon="13.3" max_lon="13.4"/>
<changeset id="1" created_at="2026-01-01T00:00:00Z" open="true" min_lat="48.8" max_lat="48.9" min_lon="2.3" max_lon="2.4"/>
<changeset id="2" created_at="2026-01-01T00:00:00Z" open="true"/>
<changeset id="3" created_at="2026-01-01T00:00:00Z" open="false" min_lat="52.5" max_lat="52.6" min_lon="13.3" max_lon="13.4"/>
<changeset id="4" created_at="2026-01-01T00:00:00Z" open="true"/>
</osm>`)))
	if err != nil {
		t.Fatal(err)
	}
	last := lastEntries(list)
	if got := fmt.Sprint(ids(last)); got != "[1 2 3 4]" || last[2].Open {
		t.Fatalf("last entries %s, changeset 3 open %v", got, last[2].Open)
	}
	berlin, err := region.New("berlin", "test", orb.MultiPolygon{{{{13.09, 52.34}, {13.76, 52.34}, {13.76, 52.68}, {13.09, 52.68}, {13.09, 52.34}}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		regions region.Set
		known   map[int64]bool
		want    string
	}{
		{nil, nil, "[1 2 3 4]"},                                // no regions: all
		{region.Set{berlin}, nil, "[3]"},                       // bbox in Berlin
		{region.Set{berlin}, map[int64]bool{4: true}, "[3 4]"}, // tracked by the diffs, no bbox
		{region.Set{berlin}, map[int64]bool{1: true}, "[1 3]"}, // tracked, bbox in Paris
	} {
		f := &Fetcher{Regions: tc.regions}
		if got := fmt.Sprint(ids(f.keepMeta(last, tc.known))); got != tc.want {
			t.Errorf("regions %d, known %v: kept %s, want %s", len(tc.regions), tc.known, got, tc.want)
		}
	}
	if got := tagsJSON(map[string]string{"b": "2", "a": `"x"`}); got != `{"a":"\"x\"","b":"2"}` {
		t.Errorf("tags JSON %s", got)
	}
}

func ids(list []changeset.Meta) []int64 {
	out := make([]int64, len(list))
	for i, c := range list {
		out[i] = c.ID
	}
	return out
}
