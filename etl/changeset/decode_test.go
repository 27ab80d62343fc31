package changeset

import (
	"bytes"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paulmach/osm"
)

// osmFiles are the real changeset XML files in the test data: replication files (num_changes)
// and API metadata (changes_count).
var osmFiles = []string{
	"changeset-replication/011.osm.gz", "changeset-replication/245.osm.gz", "changeset-replication/363.osm",
	"changeset-replication/996.osm", "changeset-replication/999.osm.gz",
	"changesets/151837465.xml", "changesets/153177572.xml", "changesets/154042452.xml",
	"changesets/154244909.xml", "changesets/155176527.xml",
}

// sameAsOracle compares Decode's answer with paulmach/osm's decoding of the same document.
func sameAsOracle(t *testing.T, data []byte, got []Meta) {
	t.Helper()
	var doc osm.OSM
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("Decode accepted what paulmach/osm rejects (%v): %q", err, truncate(data))
	}
	if len(doc.Changesets) != len(got) {
		t.Fatalf("%d changesets, paulmach/osm %d", len(got), len(doc.Changesets))
	}
	for i, c := range doc.Changesets {
		m := got[i]
		if m.ID != int64(c.ID) || m.User != c.User || m.Open != c.Open {
			t.Errorf("changeset %d: id/user/open %d %q %v, paulmach/osm %d %q %v", i, m.ID, m.User, m.Open, c.ID, c.User, c.Open)
		}
		if m.UID != nil && *m.UID != int64(c.UserID) || m.UID == nil && c.UserID != 0 {
			t.Errorf("changeset %d: uid %v, paulmach/osm %d", m.ID, m.UID, c.UserID)
		}
		if m.CreatedAt != nil && !m.CreatedAt.Equal(c.CreatedAt) || m.ClosedAt != nil && !m.ClosedAt.Equal(c.ClosedAt) {
			t.Errorf("changeset %d: times %v %v, paulmach/osm %v %v", m.ID, m.CreatedAt, m.ClosedAt, c.CreatedAt, c.ClosedAt)
		}
		if m.CommentsCount != nil && *m.CommentsCount != c.CommentsCount {
			t.Errorf("changeset %d: comments_count %d, paulmach/osm %d", m.ID, *m.CommentsCount, c.CommentsCount)
		}
		want := map[string]string{}
		for _, tag := range c.Tags {
			if _, dup := want[tag.Key]; !dup {
				want[tag.Key] = tag.Value
			}
		}
		if len(want) != len(m.Tags) {
			t.Errorf("changeset %d: tags %v, paulmach/osm %v", m.ID, m.Tags, want)
		}
		for k, v := range want {
			if m.Tags[k] != v {
				t.Errorf("changeset %d: tag %s=%q, paulmach/osm %q", m.ID, k, m.Tags[k], v)
			}
		}
		if b := m.Bound; b != nil && (b.Min[0] != c.MinLon || b.Min[1] != c.MinLat || b.Max[0] != c.MaxLon || b.Max[1] != c.MaxLat) {
			t.Errorf("changeset %d: bbox %v, paulmach/osm %v %v %v %v", m.ID, *b, c.MinLon, c.MinLat, c.MaxLon, c.MaxLat)
		}
	}
}

func truncate(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

func TestDecodeRealFiles(t *testing.T) {
	total := 0
	for _, f := range osmFiles {
		data, err := readFile(filepath.Join(osmData, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sameAsOracle(t, data, got)
		if strings.HasPrefix(f, "changesets/") {
			if len(got) != 1 || got[0].ChangesCount == nil || *got[0].ChangesCount == 0 || got[0].Line != 3 {
				t.Errorf("%s: %d changesets, changes_count %v, line %d", f, len(got), got[0].ChangesCount, got[0].Line)
			}
		}
		total += len(got)
	}
	// 245.osm.gz: 25; 999.osm.gz: 27 (etl/fetch's tests count the same).
	if total < 60 {
		t.Errorf("%d changesets in all", total)
	}
	data, _ := readFile(filepath.Join(osmData, "changeset-replication/245.osm.gz"))
	got, _ := DecodeFeed(bytes.NewReader(data))
	if len(got) != 25 || got[0].ID != 31982803 || got[0].User != "GarrettB" || *got[0].UID != 352373 {
		t.Errorf("245.osm.gz: %d changesets, first %+v", len(got), got[0])
	}
}

func TestDecodeErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		doc, want string
		bare      bool // DecodeFeed rejects it, Decode accepts it
	}{
		"empty":       {"", "no <osm> element", false},
		"syntax":      {"<osm>\n<changeset id=\"2\" created_at=\"2026-01-01T00:00:00Z\">\n</osm>", "line 2: XML syntax error on line 3", false},
		"no id":       {"<osm>\n<changeset/></osm>", "line 2: changeset without a positive id", false},
		"bad id":      {"<osm>\n<changeset id=\"x\"/></osm>", "line 2: strconv.ParseInt", false},
		"bad open":    {"<osm><changeset id=\"1\" open=\"maybe\"/></osm>", "line 1: strconv.ParseBool", false},
		"bad time":    {"<osm><changeset id=\"1\" created_at=\"yesterday\"/></osm>", "line 1: parsing time", false},
		"bad bbox":    {"<osm><changeset id=\"1\" min_lat=\"91\" max_lat=\"92\" min_lon=\"0\" max_lon=\"1\"/></osm>", "changeset 1 has an invalid bbox", false},
		"inverted":    {"<osm><changeset id=\"1\" min_lat=\"2\" max_lat=\"1\" min_lon=\"0\" max_lon=\"1\"/></osm>", "changeset 1 has an invalid bbox", false},
		"other child": {"<osm><node id=\"1\"/></osm>", "line 1: unknown element <node> in <osm>", false},
		"other root":  {"<osmChange/>", "root element is <osmChange>, not <osm>", false},
		"two roots":   {"<osm/><osm/>", "root element is <osm>, not <osm>", false},
		"bare":        {"<changeset id=\"5\"/>", "root element is <changeset>, not <osm>", true},
	} {
		_, err := DecodeFeed(strings.NewReader(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: DecodeFeed error %v, want %q", name, err, tc.want)
		}
		ms, err := Decode(strings.NewReader(tc.doc))
		if tc.bare {
			if err != nil || len(ms) != 1 || ms[0].ID != 5 {
				t.Errorf("%s: Decode %v %v", name, ms, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Decode error %v, want %q", name, err, tc.want)
		}
	}
}

// FuzzDecode: whatever Decode accepts, paulmach/osm reads the same way.
func FuzzDecode(f *testing.F) {
	for _, name := range osmFiles[5:] {
		data, err := readFile(filepath.Join(osmData, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`<osm><changeset id="1" uid="2" user="a" open="true" created_at="2026-01-01T00:00:00Z"><tag k="a" v="1"/><tag k="a" v="2"/></changeset></osm>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeFeed(bytes.NewReader(data))
		if err != nil {
			return
		}
		sameAsOracle(t, data, got)
	})
}
