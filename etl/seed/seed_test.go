package seed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/region"
)

const monaco = "../../testdata/osm/extracts/monaco-20150428.osm.pbf"

// memWriter collects what Load writes: "n123", "w45", "r6".
type memWriter struct {
	mu   sync.Mutex
	keys []string
	objs map[string]osm.Object
}

func (m *memWriter) Write(_ context.Context, batch []osm.Object) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objs == nil {
		m.objs = map[string]osm.Object{}
	}
	for _, o := range batch {
		k := key(o)
		m.keys = append(m.keys, k)
		m.objs[k] = o
	}
	return nil
}

func key(o osm.Object) string {
	switch o := o.(type) {
	case *osm.Node:
		return fmt.Sprintf("n%d", o.ID)
	case *osm.Way:
		return fmt.Sprintf("w%d", o.ID)
	case *osm.Relation:
		return fmt.Sprintf("r%d", o.ID)
	}
	return "?"
}

// quarter is a polygon over the south-west of Monaco's bounding box.
var quarter = orb.Ring{{7.40, 43.70}, {7.4225, 43.70}, {7.4225, 43.735}, {7.40, 43.735}, {7.40, 43.70}}

func writePoly(t *testing.T, ring orb.Ring) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("quarter\n1\n")
	for _, p := range ring {
		fmt.Fprintf(&b, "   %.7f   %.7f\n", p[0], p[1])
	}
	b.WriteString("END\nEND\n")
	path := filepath.Join(t.TempDir(), "quarter.poly")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func needOsmium(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("osmium"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("osmium-tool is not installed (scripts/install.sh installs it)")
		}
		t.Skip("osmium-tool is not installed")
	}
}

// osmiumIDs runs osmium extract -s complete_ways and returns the element keys of the result.
func osmiumIDs(t *testing.T, in, poly string) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.opl")
	cmd := exec.Command("osmium", "extract", "-s", "complete_ways", "-p", poly, in, "-o", out, "-O")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("osmium extract: %v\n%s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		k, _, _ := strings.Cut(sc.Text(), " ")
		keys = append(keys, k)
	}
	return keys
}

func load(t *testing.T, path string, regions region.Set) (Stats, *memWriter) {
	t.Helper()
	src, err := NewFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := &memWriter{}
	st, err := Load(context.Background(), src, w, Options{Regions: regions})
	if err != nil {
		t.Fatalf("Load %s: %v", path, err)
	}
	return st, w
}

func quarterSet(t *testing.T) region.Set {
	r, err := region.New("quarter", "test", orb.MultiPolygon{{quarter}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return region.Set{r}
}

// TestCompleteWaysMatchesOsmium: the elements kept for a region are exactly those of
// `osmium extract -s complete_ways`, in every input format.
func TestCompleteWaysMatchesOsmium(t *testing.T) {
	needOsmium(t)
	poly := writePoly(t, quarter)
	want := osmiumIDs(t, monaco, poly)
	slices.Sort(want)
	dir := t.TempDir()
	inputs := []string{monaco}
	// XML decoding is slow under -race: the whole of Monaco as .osm.gz; plain .osm and .osm.bz2
	// (the same decoder, another decompression) in TestXMLFormatsAgree on a corner of it.
	p := filepath.Join(dir, "monaco.osm.gz")
	if b, err := exec.Command("osmium", "cat", monaco, "-o", p).CombinedOutput(); err != nil {
		t.Fatalf("osmium cat: %v\n%s", err, b)
	}
	inputs = append(inputs, p)
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			st, w := load(t, in, quarterSet(t))
			got := slices.Clone(w.keys)
			slices.Sort(got)
			if len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("an element was written twice")
			}
			if !slices.Equal(got, want) {
				missing, extra := diff(want, got), diff(got, want)
				t.Errorf("kept %d elements, osmium %d; missing %d %v, extra %d %v", len(got), len(want),
					len(missing), head(missing), len(extra), head(extra))
			}
			// osmium writes no replication timestamp into XML.
			if want := "2015-04-27T20:21:02Z"; filepath.Ext(in) == ".pbf" && st.Header.Format(time.RFC3339) != want {
				t.Errorf("header timestamp %v, want %s", st.Header, want)
			}
			if st.Passes != 2 || st.Kept.Total() != int64(len(got)) || st.Read <= st.Kept.Total() {
				t.Errorf("stats %+v", st)
			}
			t.Logf("%s: read %d, kept %+v, ids in memory %d", filepath.Base(in), st.Read, st.Kept, st.IDs)
		})
	}
}

// TestXMLFormatsAgree: .osm.pbf, .osm, .osm.gz and .osm.bz2 of the same small extract give the
// same elements, for a region and without.
func TestXMLFormatsAgree(t *testing.T) {
	needOsmium(t)
	dir := t.TempDir()
	small := filepath.Join(dir, "small.osm.pbf")
	if b, err := exec.Command("osmium", "extract", "-b", "7.405,43.725,7.4225,43.735", monaco, "-o", small).CombinedOutput(); err != nil {
		t.Fatalf("osmium extract: %v\n%s", err, b)
	}
	paths := []string{small}
	for _, ext := range []string{"osm", "osm.gz", "osm.bz2"} {
		p := filepath.Join(dir, "small."+ext)
		if b, err := exec.Command("osmium", "cat", small, "-o", p).CombinedOutput(); err != nil {
			t.Fatalf("osmium cat: %v\n%s", err, b)
		}
		paths = append(paths, p)
	}
	for _, regions := range []region.Set{nil, quarterSet(t)} {
		var want []string
		for i, p := range paths {
			_, w := load(t, p, regions)
			got := slices.Clone(w.keys)
			slices.Sort(got)
			if i == 0 {
				want = got
				if len(want) < 500 {
					t.Fatalf("%s: only %d elements", p, len(want))
				}
				continue
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: %d elements, the PBF %d (regions: %d)", filepath.Base(p), len(got), len(want), len(regions))
			}
		}
	}
}

func TestNoRegionsKeepsEverything(t *testing.T) {
	st, w := load(t, monaco, nil)
	if st.Passes != 1 || st.Read != int64(len(w.keys)) || st.Kept.Nodes == 0 || st.Kept.Ways == 0 || st.Kept.Relations == 0 {
		t.Fatalf("stats %+v, wrote %d", st, len(w.keys))
	}
	// File order: nodes, ways, relations.
	order := map[byte]int{'n': 0, 'w': 1, 'r': 2}
	for i := 1; i < len(w.keys); i++ {
		if order[w.keys[i][0]] < order[w.keys[i-1][0]] {
			t.Fatalf("%s written after %s", w.keys[i], w.keys[i-1])
		}
	}
}

// TestBrokenFiles: a truncated or corrupt extract is an error naming the byte offset.
func TestBrokenFiles(t *testing.T) {
	data, err := os.ReadFile(monaco)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gzPath := filepath.Join(dir, "full.osm.gz")
	if _, err := exec.LookPath("osmium"); err == nil {
		if b, err := exec.Command("osmium", "cat", monaco, "-o", gzPath).CombinedOutput(); err != nil {
			t.Fatalf("osmium cat: %v\n%s", err, b)
		}
	}
	cases := []struct {
		name string
		data func() []byte
	}{
		{"truncated.osm.pbf", func() []byte { return data[:len(data)*2/3] }},
		{"corrupt.osm.pbf", func() []byte {
			b := slices.Clone(data)
			for i := len(b) / 2; i < len(b)/2+64; i++ {
				b[i] ^= 0x5a
			}
			return b
		}},
		{"empty.osm.pbf", func() []byte { return nil }},
		{"truncated.osm", func() []byte {
			return []byte("<?xml version='1.0'?>\n<osm version=\"0.6\">\n <node id=\"1\" lat=\"1\" lon=\"1\" version=\"1\"/>\n <way id=\"2\" version=\"1\"><nd ref=\"1\"/>")
		}},
		{"notxml.osm", func() []byte { return []byte("hello") }},
	}
	if _, err := os.Stat(gzPath); err == nil {
		gz, _ := os.ReadFile(gzPath)
		cases = append(cases, struct {
			name string
			data func() []byte
		}{"truncated.osm.gz", func() []byte { return gz[:len(gz)/2] }})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			if err := os.WriteFile(p, c.data(), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := NewFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, regions := range []region.Set{nil, quarterSet(t)} {
				_, err = Load(context.Background(), src, &memWriter{}, Options{Regions: regions})
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a CorruptError", err)
				}
				if !strings.Contains(err.Error(), "at byte ") || !strings.Contains(err.Error(), c.name) {
					t.Errorf("error does not name the file and the offset: %v", err)
				}
			}
			t.Log(err)
		})
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, x)
		}
	}
	return out
}

func head(s []string) []string { return s[:min(len(s), 10)] }

func TestXMLHeaderTimestamp(t *testing.T) {
	cases := []struct{ head, want string }{
		{`<?xml version="1.0"?>\n<osm version="0.6" generator="osmium/1.14.0" timestamp="2024-05-01T20:21:02Z">`, "2024-05-01T20:21:02Z"},
		{`<osm version="0.6" timestamp="2024-05-01T00:00:00Z" osmosis_replication_timestamp="2024-05-02T00:00:00Z">`, "2024-05-02T00:00:00Z"},
		{`<osm version="0.6" generator="x">`, ""},
		{`<osm version="0.6"/>`, ""},
	}
	for _, c := range cases {
		ts, err := xmlHeaderTimestamp(bufio.NewReader(strings.NewReader(c.head)))
		if err != nil {
			t.Fatalf("%s: %v", c.head, err)
		}
		got := ""
		if !ts.IsZero() {
			got = ts.Format(time.RFC3339)
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.head, got, c.want)
		}
	}
	for _, bad := range []string{`<osm version="0.6" timestamp="yesterday">`, `no xml here`} {
		if _, err := xmlHeaderTimestamp(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
