package region

import (
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"gopkg.in/yaml.v3"

	"github.com/osmtrack/osmtrack/etl/config"
)

const polyDir = "../../testdata/osm/poly"

func TestParsePolyEdgeCases(t *testing.T) {
	cases := []struct {
		file          string
		outers, holes int
		errContains   string // "" = must parse
	}{
		{"empty.poly", 0, 0, "empty.poly:1: empty file"},
		{"one-line.poly", 0, 0, "one-line.poly:2: unexpected end of file: no sections"},
		{"two-line.poly", 0, 0, "two-line.poly:3: unexpected end of file: section started on line 2 has no END"},
		{"missing-end-ring.poly", 0, 0, "missing-end-ring.poly:8: unexpected end of file: section started on line 2 has no END"},
		{"missing-end-polygon.poly", 0, 0, "missing-end-polygon.poly:9: unexpected end of file: missing the final END"},
		{"polygon-one-outer.poly", 1, 0, ""},
		{"polygon-two-outer.poly", 2, 0, ""},
		{"polygon-outer-inner.poly", 1, 1, ""},
		{"polygon-crlf.poly", 1, 0, ""},
		{"two-polygons.poly", 2, 1, ""},
		{"two-polygons-empty-line.poly", 2, 1, ""},
		{"polygon-us-alaska.poly", 2, 0, ""},
	}
	entries, err := os.ReadDir(filepath.Join(polyDir, "edge-cases"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(cases) {
		t.Errorf("edge-cases holds %d files, the table %d: add the new ones", len(entries), len(cases))
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(polyDir, "edge-cases", c.file)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			mp, err := ParsePoly(f, path)
			if c.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), c.errContains) {
					t.Fatalf("error = %v, want it to contain %q", err, c.errContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			holes := 0
			for _, p := range mp {
				holes += len(p) - 1
			}
			if len(mp) != c.outers || holes != c.holes {
				t.Errorf("got %d outer rings and %d holes, want %d and %d", len(mp), holes, c.outers, c.holes)
			}
			if first := mp[0][0][0]; !strings.Contains(c.file, "alaska") && first != (orb.Point{10, 10}) {
				t.Errorf("first point %v, want [10 10]", first)
			}
		})
	}
}

func TestParsePolyMalformed(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"stray line in ring", "x\n1\n1 1\n2 2\nfoo bar\n3 1\nEND\nEND\n", "x.poly:5: expected \"lon lat\" or END, found \"foo bar\""},
		{"three numbers", "x\n1\n1 1 1\nEND\nEND\n", "x.poly:3: expected \"lon lat\""},
		{"coordinates where a header belongs", "x\n1\n1 1\n2 2\n3 1\nEND\n4 4\nEND\n", "x.poly:7: expected a section header or END"},
		{"too few points", "x\n1\n1 1\n2 2\nEND\nEND\n", "x.poly:5: section has 2 points"},
		{"only holes", "x\n!1\n1 1\n2 2\n3 1\nEND\nEND\n", "no outer ring"},
		{"latitude out of range", "x\n1\n1 91\n2 2\n3 1\nEND\nEND\n", "x.poly:3: coordinates"},
		{"end only", "END\n", "x.poly:1: expected a name line"},
		{"stray line after the end", "x\n1\n1 1\n2 2\n3 1\nEND\nEND\n4 4\n", "x.poly:8: stray line \"4 4\" after the final END"},
		{"END twice at the end", "x\n1\n1 1\n2 2\n3 1\nEND\nEND\nEND\n", "x.poly:8: stray line \"END\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePoly(strings.NewReader(c.text), "x.poly")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
	// Tabs, scientific notation and a missing closing point are fine.
	mp, err := ParsePoly(strings.NewReader("x\r\n1\r\n\t1e1\t1.0E+01 \r\n2e1 10\r\n20 2e1\r\nEND\r\nEND\r\n"), "x.poly")
	if err != nil {
		t.Fatal(err)
	}
	if len(mp[0][0]) != 4 || !mp[0][0].Closed() {
		t.Errorf("ring %v: want 3 points closed to 4", mp[0][0])
	}
}

func loadPoly(t testing.TB, name string) *Region {
	t.Helper()
	r, err := Load(strings.TrimSuffix(name, ".poly"), config.Region{File: filepath.Join(polyDir, name)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKnownPoints(t *testing.T) {
	set, err := LoadSet(map[string]config.Region{
		"hamburg":     {File: filepath.Join(polyDir, "hamburg.poly")},
		"berlin":      {File: filepath.Join(polyDir, "berlin.poly")},
		"brandenburg": {File: filepath.Join(polyDir, "brandenburg.poly")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		place string
		p     orb.Point
		want  string // comma-separated region names, sorted
	}{
		{"Hamburg Rathaus", orb.Point{9.9921, 53.5507}, "hamburg"},
		{"Hamburg-Harburg", orb.Point{9.98, 53.46}, "hamburg"},
		{"Hamburg-Bergedorf", orb.Point{10.21, 53.49}, "hamburg"},
		{"Berlin Alexanderplatz", orb.Point{13.4132, 52.5219}, "berlin"},
		{"Berlin-Spandau", orb.Point{13.20, 52.535}, "berlin"},
		{"Berlin-Köpenick", orb.Point{13.58, 52.445}, "berlin"},
		{"Potsdam", orb.Point{13.0645, 52.3906}, "brandenburg"},
		{"Cottbus", orb.Point{14.334, 51.756}, "brandenburg"},
		{"Frankfurt (Oder)", orb.Point{14.55, 52.347}, "brandenburg"},
		{"Prenzlau", orb.Point{13.86, 53.316}, "brandenburg"},
		{"Lübeck", orb.Point{10.686, 53.866}, ""},
		{"Bremen", orb.Point{8.80, 53.08}, ""},
		{"Leipzig", orb.Point{12.37, 51.34}, ""},
		{"Dresden", orb.Point{13.738, 51.050}, ""},
		{"Warsaw", orb.Point{21.01, 52.23}, ""},
		{"Null Island", orb.Point{0, 0}, ""},
	}
	for _, c := range cases {
		got := strings.Join(set.Matching(c.p), ",")
		if got != c.want {
			t.Errorf("%s %v: in %q, want %q", c.place, c.p, got, c.want)
		}
		if set.Contains(c.p) != (c.want != "") {
			t.Errorf("%s: Set.Contains = %v", c.place, !(c.want != ""))
		}
	}
	if !(Set{}).Contains(orb.Point{0, 0}) {
		t.Error("an empty set must contain every point")
	}
	// Berlin is a hole in Brandenburg: Brandenburg's area is smaller than its outer ring's.
	bb := set.Get("brandenburg")
	if a := bb.AreaM2() / 1e6; a < 28000 || a > 33000 {
		t.Errorf("Brandenburg area %.0f km², want about 29,500 (the file is a slightly generous outline)", a)
	}
	if a := set.Get("berlin").AreaM2() / 1e6; a < 850 || a > 1050 {
		t.Errorf("Berlin area %.0f km², want about 890 (generous outline)", a)
	}
}

func TestAlaskaAcrossAntimeridian(t *testing.T) {
	r := loadPoly(t, "edge-cases/polygon-us-alaska.poly")
	for _, c := range []struct {
		p    orb.Point
		want bool
	}{
		{orb.Point{-149.9, 61.2}, true},  // Anchorage
		{orb.Point{-147.7, 64.84}, true}, // Fairbanks
		{orb.Point{-156.79, 71.29}, true},
		{orb.Point{175.0, 52.5}, true},    // Aleutians west of 180
		{orb.Point{-122.3, 47.6}, false},  // Seattle
		{orb.Point{0, 60}, false},         // nowhere near
		{orb.Point{170.0, 52.5}, false},   // west of the western part
		{orb.Point{-100.0, 60.0}, false},  // Canada
		{orb.Point{179.99, 52.0}, true},   // just west of the antimeridian
		{orb.Point{-179.99, 48.0}, false}, // south of the eastern part
		{orb.Point{-179.99, 55.0}, true},
	} {
		if got := r.Contains(c.p); got != c.want {
			t.Errorf("Contains(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestRingCrossingAntimeridian(t *testing.T) {
	// One ring from 170 to -170 (20° wide band across ±180), as some tools write it.
	mp := orb.MultiPolygon{{{{170, -10}, {-170, -10}, {-170, 10}, {170, 10}, {170, -10}}}}
	r, err := New("fiji", "test", mp, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    orb.Point
		want bool
	}{
		{orb.Point{175, 0}, true}, {orb.Point{-175, 0}, true}, {orb.Point{180, 0}, true},
		{orb.Point{0, 0}, false}, {orb.Point{160, 0}, false}, {orb.Point{-160, 0}, false},
	} {
		if got := r.Contains(c.p); got != c.want {
			t.Errorf("Contains(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if b := r.Bound(); b.Min[0] != -180 || b.Max[0] != 180 {
		t.Errorf("Bound %v: want the full longitude range", b)
	}
	if !r.IntersectsBound(orb.Bound{Min: orb.Point{-179, 1}, Max: orb.Point{-178, 2}}) {
		t.Error("a bbox east of -180 inside the band must intersect")
	}
	if r.IntersectsBound(orb.Bound{Min: orb.Point{-100, 1}, Max: orb.Point{-90, 2}}) {
		t.Error("a bbox far away must not intersect")
	}
	if a := r.AreaM2() / 1e12; a < 4.8 || a > 5.0 {
		t.Errorf("area %.2f million km², want about 4.9", a)
	}
}

func TestIntersectsBound(t *testing.T) {
	berlin := loadPoly(t, "berlin.poly")
	bb := loadPoly(t, "brandenburg.poly")
	box := func(x0, y0, x1, y1 float64) orb.Bound {
		return orb.Bound{Min: orb.Point{x0, y0}, Max: orb.Point{x1, y1}}
	}
	for _, c := range []struct {
		name string
		r    *Region
		b    orb.Bound
		want bool
	}{
		{"small box inside Berlin", berlin, box(13.40, 52.51, 13.41, 52.52), true},
		{"box around all of Berlin", berlin, box(12, 51, 15, 54), true},
		{"continent-spanning box", berlin, box(-10, 35, 40, 70), true},
		{"box in Leipzig", berlin, box(12.3, 51.3, 12.4, 51.4), false},
		{"box in Berlin's bbox corner but outside", berlin, box(13.09, 52.34, 13.10, 52.345), false},
		{"box inside the Berlin hole of Brandenburg", bb, box(13.40, 52.51, 13.41, 52.52), false},
		{"box crossing Berlin's border, Brandenburg", bb, box(13.0, 52.4, 13.5, 52.5), true},
		{"a point box", berlin, box(13.4132, 52.5219, 13.4132, 52.5219), true},
	} {
		if got := c.r.IntersectsBound(c.b); got != c.want {
			t.Errorf("%s: IntersectsBound = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBuffer(t *testing.T) {
	// 1°x1° square at the equator; a point 5 km east of its east edge.
	sq := orb.MultiPolygon{{{{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}}}}
	p := orb.Point{1 + 5000/metresPerDegree, 0.5}
	r0, _ := New("sq", "t", sq, 0)
	r4, _ := New("sq", "t", sq, 4000)
	r6, _ := New("sq", "t", sq, 6000)
	if r0.Contains(p) || r4.Contains(p) || !r6.Contains(p) {
		t.Errorf("5 km outside: unbuffered %v, 4 km %v, 6 km %v; want false false true", r0.Contains(p), r4.Contains(p), r6.Contains(p))
	}
	if !r6.Bound().Contains(p) {
		t.Error("the bound must include the buffer")
	}
	if r6.AreaM2() <= r0.AreaM2() {
		t.Error("buffer must grow the area")
	}
	if !r6.IntersectsBound(orb.Bound{Min: p, Max: orb.Point{p[0] + 0.01, p[1] + 0.01}}) {
		t.Error("bbox within the buffer must intersect")
	}
}

func TestGeoJSON(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sq := `[[[10,10],[19,10],[19,19],[10,19],[10,10]]]`
	inside, outside := orb.Point{15, 15}, orb.Point{25, 25}
	for _, c := range []struct{ name, text, err string }{
		{"polygon.geojson", `{"type":"Polygon","coordinates":` + sq + `}`, ""},
		{"multi.json", `{"type":"MultiPolygon","coordinates":[` + sq + `]}`, ""},
		{"feature.geojson", `{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":` + sq + `}}`, ""},
		{"fc.geojson", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":` + sq + `}}]}`, ""},
		{"area.txt", `{"type":"Polygon","coordinates":` + sq + `}`, ""},
		{"point.geojson", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]}}]}`, "feature 1 is a Point"},
		{"broken.geojson", "{\n\"type\": \"Polygon\",\n\"coordinates\": [[[1,2]]]\n,,}", "broken.geojson:4: invalid GeoJSON"},
		{"line.geojson", `{"type":"LineString","coordinates":[[1,2],[3,4]]}`, `"LineString" is not a Polygon`},
		{"tiny.geojson", `{"type":"Polygon","coordinates":[[[1,1],[2,2],[1,1]]]}`, "fewer than 3 distinct points"},
	} {
		r, err := Load("x", config.Region{File: write(c.name, c.text)})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !r.Contains(inside) || r.Contains(outside) {
			t.Errorf("%s: wrong containment", c.name)
		}
	}
	var doc struct {
		Regions map[string]config.Region `yaml:"regions"`
	}
	src := "regions:\n  sq:\n    geojson:\n      type: Polygon\n      coordinates: " + sq + "\n  bad:\n    geojson: {type: Point, coordinates: [1, 2]}\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	r, err := Load("sq", doc.Regions["sq"])
	if err != nil || !r.Contains(inside) || r.Source != "inline" {
		t.Fatalf("inline: %v", err)
	}
	if _, err := Load("bad", doc.Regions["bad"]); err == nil || !strings.Contains(err.Error(), "regions.bad.geojson (config line 7)") {
		t.Errorf("inline error %v: want the config line", err)
	}
	if _, err := LoadSet(map[string]config.Region{"m": {File: filepath.Join(dir, "missing.poly")}}); err == nil || !strings.Contains(err.Error(), "missing.poly") {
		t.Errorf("missing file: %v", err)
	}
}

// bigPolygon is a wiggly star-shaped ring with n vertices around (10, 50), like a country.
func bigPolygon(n int) orb.MultiPolygon {
	rnd := rand.New(rand.NewSource(1))
	ring := make(orb.Ring, 0, n+1)
	for i := 0; i < n; i++ {
		a := 2 * math.Pi * float64(i) / float64(n)
		rad := 3 + 0.5*math.Sin(a*17) + 0.05*math.Sin(a*311) + 0.002*rnd.Float64()
		ring = append(ring, orb.Point{10 + rad*math.Cos(a)*1.5, 50 + rad*math.Sin(a)})
	}
	ring = append(ring, ring[0])
	return orb.MultiPolygon{{ring}}
}

func TestIndexAgreesWithPlainCrossingTest(t *testing.T) {
	mp := bigPolygon(20000)
	r, err := New("big", "t", mp, 0)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewSource(2))
	in := 0
	for i := 0; i < 4000; i++ {
		p := orb.Point{4 + 12*rnd.Float64(), 45 + 10*rnd.Float64()}
		want := ringContains(mp[0][0], p)
		if got := r.Contains(p); got != want {
			t.Fatalf("Contains(%v) = %v, plain test says %v", p, got, want)
		}
		if want {
			in++
		}
	}
	if in < 1000 || in > 3000 {
		t.Errorf("%d of 20000 random points inside (of 4000): test polygon is not exercising both sides", in)
	}
}

func BenchmarkContains(b *testing.B) {
	for _, n := range []int{1000, 50000} {
		r, err := New("big", "t", bigPolygon(n), 0)
		if err != nil {
			b.Fatal(err)
		}
		rnd := rand.New(rand.NewSource(3))
		pts := make([]orb.Point, 4096)
		for i := range pts {
			pts[i] = orb.Point{4 + 12*rnd.Float64(), 45 + 10*rnd.Float64()}
		}
		b.Run(itoa(n)+"vertices", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r.Contains(pts[i&4095])
			}
		})
	}
}

func BenchmarkContainsBrandenburg(b *testing.B) {
	r := loadPoly(b, "brandenburg.poly")
	p := orb.Point{13.0645, 52.3906}
	for i := 0; i < b.N; i++ {
		r.Contains(p)
	}
}

func itoa(n int) string {
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}
