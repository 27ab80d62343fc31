package sim

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/osm"
)

// Shared fixtures: generated once per test binary.
var (
	fixOnce   sync.Map
	regionMin = len(kindWeights) + 20 // every kind at least once
)

type fixture struct {
	dir string
	st  *Stats
	err error
}

func generated(t *testing.T, o Options) (string, *Stats) {
	t.Helper()
	key := fmt.Sprintf("%s/%d/%d/%s", o.Profile, o.Minutes, o.Seed, o.Base)
	v, _ := fixOnce.LoadOrStore(key, &sync.Once{})
	once := v.(*sync.Once)
	fv, _ := fixOnce.LoadOrStore(key+"#", &fixture{})
	f := fv.(*fixture)
	once.Do(func() {
		f.dir, f.err = os.MkdirTemp("", "simtest-")
		if f.err == nil {
			o.Out = f.dir
			f.st, f.err = Generate(context.Background(), o)
		}
	})
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.dir, f.st
}

func regionDir(t *testing.T) (string, *Stats) {
	return generated(t, Options{Profile: ProfileRegion, Minutes: regionMin, Seed: 7})
}

func planetDir(t *testing.T) (string, *Stats) {
	return generated(t, Options{Profile: ProfilePlanet, Minutes: 2, Seed: 3})
}

func TestMain(m *testing.M) {
	code := m.Run()
	fixOnce.Range(func(k, v any) bool {
		if f, ok := v.(*fixture); ok && f.dir != "" {
			os.RemoveAll(f.dir)
		}
		return true
	})
	os.Exit(code)
}

func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "stats.json" { // carries the elapsed time
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSameSeedSameBytes(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{Profile: ProfileRegion, Minutes: 20, Seed: 42}, {Profile: ProfilePlanet, Minutes: 1, Seed: 42}} {
		a, b := t.TempDir(), t.TempDir()
		o.Out = a
		if _, err := Generate(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		o.Out = b
		if _, err := Generate(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		fa, fb := dirFiles(t, a), dirFiles(t, b)
		if len(fa) != len(fb) || len(fa) < 4*o.Minutes {
			t.Fatalf("%s: %d files vs %d", o.Profile, len(fa), len(fb))
		}
		for name, x := range fa {
			if !bytes.Equal(x, fb[name]) {
				t.Errorf("%s: %s differs between two runs with seed %d", o.Profile, name, o.Seed)
			}
		}
		if o.Profile == ProfilePlanet {
			continue
		}
		// A different seed gives different data.
		o.Out, o.Seed = t.TempDir(), 43
		if _, err := Generate(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		p := "replication/minute/" + seqPath(DefaultStartSeq) + ".osc.gz"
		if bytes.Equal(dirFiles(t, o.Out)[p], fa[p]) {
			t.Errorf("%s: seed 43 wrote the same %s as seed 42", o.Profile, p)
		}
	}
}

func TestLayoutAndStateFormats(t *testing.T) {
	dir, st := regionDir(t)
	head := st.EndSeq
	b, err := os.ReadFile(filepath.Join(dir, "replication/minute/state.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ts := DefaultStartTime.Add(timeMinutes(regionMin))
	want := fmt.Sprintf("sequenceNumber=%d\ntimestamp=%s\n", head, ts.Format("2006-01-02T15\\:04\\:05Z"))
	if !strings.HasPrefix(string(b), "#") || !strings.HasSuffix(string(b), want) {
		t.Errorf("state.txt = %q, want a comment line then %q", b, want)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "replication/minute/006/000/000.state.txt"))
	if !strings.Contains(string(first), "sequenceNumber=6000000\ntimestamp=2026-01-01T00\\:01\\:00Z") {
		t.Errorf("first state = %q", first)
	}
	y, _ := os.ReadFile(filepath.Join(dir, "replication/changesets/state.yaml"))
	if !strings.HasPrefix(string(y), "---\nlast_run: 2026-01-01 00:") || !strings.HasSuffix(string(y), fmt.Sprintf("\nsequence: %d\n", head-1)) {
		t.Errorf("state.yaml = %q", y)
	}
	poly, _ := os.ReadFile(filepath.Join(dir, "region.poly"))
	if !strings.HasPrefix(string(poly), "region\n1\n") || !strings.HasSuffix(string(poly), "END\nEND\n") {
		t.Errorf("region.poly = %q", poly)
	}
	for seq := st.StartSeq; seq <= head; seq++ {
		for _, p := range []string{"minute/" + seqPath(seq) + ".osc.gz", "minute/" + seqPath(seq) + ".state.txt", "changesets/" + seqPath(seq) + ".osm.gz", "changesets/" + seqPath(seq) + ".state.txt"} {
			if _, err := os.Stat(filepath.Join(dir, "replication", p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	gz, _ := os.ReadFile(filepath.Join(dir, "replication/minute", seqPath(head)+".osc.gz"))
	if gz[3] != 0 || !bytes.Equal(gz[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header has flags %x / mtime %x: want no name and no timestamp", gz[3], gz[4:8])
	}
}

func timeMinutes(n int) time.Duration { return time.Duration(n) * time.Minute }

func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func TestDiffsParseWithPaulmachAndOsmium(t *testing.T) {
	t.Parallel()
	osmium, err := exec.LookPath("osmium")
	if err != nil {
		t.Fatal("osmium-tool is required (scripts/install.sh installs it): ", err)
	}
	for _, get := range []func(*testing.T) (string, *Stats){regionDir, planetDir} {
		dir, st := get(t)
		for seq := st.StartSeq; seq <= st.EndSeq; seq++ {
			path := filepath.Join(dir, "replication/minute", seqPath(seq)+".osc.gz")
			var c osm.Change
			if err := xml.Unmarshal(gunzip(t, path), &c); err != nil {
				t.Fatalf("%s: paulmach/osm: %v", path, err)
			}
			n := 0
			for _, o := range []*osm.OSM{c.Create, c.Modify, c.Delete} {
				if o != nil {
					n += len(o.Nodes) + len(o.Ways) + len(o.Relations)
				}
			}
			if want := st.PerMinute[seq-st.StartSeq].Elements; n != want {
				t.Errorf("%s: paulmach/osm reads %d elements, generated %d", path, n, want)
			}
			out, err := exec.Command(osmium, "fileinfo", "-e", path).Output()
			if err != nil {
				t.Fatalf("osmium fileinfo -e %s: %v", path, err)
			}
			got := 0
			for _, l := range strings.Split(string(out), "\n") {
				l = strings.TrimSpace(l)
				for _, p := range []string{"Number of nodes: ", "Number of ways: ", "Number of relations: "} {
					if c, ok := strings.CutPrefix(l, p); ok {
						x, err := strconv.Atoi(c)
						if err != nil {
							t.Fatalf("osmium fileinfo: %q", l)
						}
						got += x
					}
				}
			}
			if !strings.Contains(string(out), "Objects ordered (by type and id): yes") {
				t.Errorf("%s: osmium says objects are not ordered", path)
			}
			if got != n {
				t.Errorf("%s: osmium counts %d objects, paulmach %d", path, got, n)
			}
		}
		// Changeset replication parses too.
		for seq := st.StartSeq; seq <= st.EndSeq; seq++ {
			var o osm.OSM
			if err := xml.Unmarshal(gunzip(t, filepath.Join(dir, "replication/changesets", seqPath(seq)+".osm.gz")), &o); err != nil {
				t.Fatalf("changesets %d: %v", seq, err)
			}
		}
	}
}

// replay applies base + diffs in order and checks the invariants the issue asks for.
type replayed struct {
	cur      map[uint64]*osm.Node // nodes
	ways     map[int64]*osm.Way
	rels     map[int64]*osm.Relation
	versions map[uint64][]ev // every version (base + diffs)
	csCount  map[int64]int
	csNodes  map[int64][][2]float64
	csEvs    map[int64][]ev
	csMins   map[int64]map[int]bool
	twice    int // elements with two versions in one minute
	maxDrag  float64
}

var replays sync.Map

func replay(t *testing.T, dir string, st *Stats) *replayed {
	t.Helper()
	if r, ok := replays.Load(dir); ok {
		return r.(*replayed)
	}
	r := replayUncached(t, dir, st)
	replays.Store(dir, r)
	return r
}

func replayUncached(t *testing.T, dir string, st *Stats) *replayed {
	t.Helper()
	r := &replayed{cur: map[uint64]*osm.Node{}, ways: map[int64]*osm.Way{}, rels: map[int64]*osm.Relation{},
		versions: map[uint64][]ev{}, csCount: map[int64]int{}, csNodes: map[int64][][2]float64{}, csEvs: map[int64][]ev{}, csMins: map[int64]map[int]bool{}}
	var base osm.OSM
	if err := xml.Unmarshal(gunzip(t, filepath.Join(dir, "api/base.osm.gz")), &base); err != nil {
		t.Fatal(err)
	}
	visible := map[uint64]bool{}
	ver := map[uint64]int{}
	for _, n := range base.Nodes {
		k := mkKey(keyNode, int64(n.ID))
		r.cur[k], visible[k], ver[k] = n, true, n.Version
		r.versions[k] = append(r.versions[k], evFromNode(n, 'm'))
	}
	for _, w := range base.Ways {
		k := mkKey(keyWay, int64(w.ID))
		r.ways[int64(w.ID)], visible[k], ver[k] = w, true, w.Version
		r.versions[k] = append(r.versions[k], evFromWay(w, 'm'))
	}
	for _, x := range base.Relations {
		k := mkKey(keyRelation, int64(x.ID))
		r.rels[int64(x.ID)], visible[k], ver[k] = x, true, x.Version
		r.versions[k] = append(r.versions[k], evFromRelation(x, 'm'))
	}
	for seq := st.StartSeq; seq <= st.EndSeq; seq++ {
		minute := int(seq - st.StartSeq)
		evs, err := readOsmChange(filepath.Join(dir, "replication/minute", seqPath(seq)+".osc.gz"))
		if err != nil {
			t.Fatal(err)
		}
		inMinute := map[uint64]int{}
		var touchedWays []ev
		for _, e := range evs {
			k := mkKey(elemKind(e.typ), e.id)
			inMinute[k]++
			if inMinute[k] == 2 {
				r.twice++
			}
			switch {
			case e.act == 'c' && (ver[k] != 0 || e.ver != 1):
				t.Fatalf("seq %d: create %c%d v%d: known at v%d", seq, e.typ, e.id, e.ver, ver[k])
			case e.act != 'c' && int(e.ver) != ver[k]+1:
				t.Fatalf("seq %d: %c %c%d v%d after v%d: versions must increase by one", seq, e.act, e.typ, e.id, e.ver, ver[k])
			case e.act != 'c' && !visible[k]:
				t.Fatalf("seq %d: %c %c%d v%d: element is deleted", seq, e.act, e.typ, e.id, e.ver)
			}
			if e.typ == 'n' && e.act == 'm' {
				old := r.cur[k]
				d := math.Hypot(old.Lat-deg(e.lat), (old.Lon-deg(e.lon))*math.Cos(old.Lat*math.Pi/180)) * 111.32
				r.maxDrag = math.Max(r.maxDrag, d)
			}
			ver[k] = int(e.ver)
			visible[k] = e.act != 'd'
			r.versions[k] = append(r.versions[k], e)
			r.csCount[e.cs]++
			r.csEvs[e.cs] = append(r.csEvs[e.cs], e)
			if r.csMins[e.cs] == nil {
				r.csMins[e.cs] = map[int]bool{}
			}
			r.csMins[e.cs][minute] = true
			switch e.typ {
			case 'n':
				r.cur[k] = &osm.Node{ID: osm.NodeID(e.id), Lat: deg(e.lat), Lon: deg(e.lon)}
				r.csNodes[e.cs] = append(r.csNodes[e.cs], [2]float64{deg(e.lat), deg(e.lon)})
			case 'w':
				if e.act != 'd' {
					touchedWays = append(touchedWays, e)
				}
			}
		}
		// Ways reference nodes that exist (visible) at that time: at the end of the minute for ways
		// still there; a way created and deleted within the minute referenced nodes that existed.
		for _, w := range touchedWays {
			if !visible[mkKey(keyWay, w.id)] {
				for _, n := range w.nodes {
					if ver[mkKey(keyNode, n)] == 0 {
						t.Fatalf("seq %d: way %d v%d references node %d, which never existed", seq, w.id, w.ver, n)
					}
				}
				continue
			}
			if len(w.nodes) < 2 {
				t.Fatalf("seq %d: way %d v%d has %d nodes", seq, w.id, w.ver, len(w.nodes))
			}
			for _, n := range w.nodes {
				if !visible[mkKey(keyNode, n)] {
					t.Fatalf("seq %d: way %d v%d references node %d, which does not exist then", seq, w.id, w.ver, n)
				}
			}
		}
	}
	return r
}

func TestConsistency(t *testing.T) {
	t.Parallel()
	for _, get := range []func(*testing.T) (string, *Stats){regionDir, planetDir} {
		dir, st := get(t)
		r := replay(t, dir, st)
		// Changeset metadata (the newest appearance in the changeset feed) agrees with the elements.
		meta := map[int64]*osm.Changeset{}
		for seq := st.StartSeq; seq <= st.EndSeq; seq++ {
			var o osm.OSM
			if err := xml.Unmarshal(gunzip(t, filepath.Join(dir, "replication/changesets", seqPath(seq)+".osm.gz")), &o); err != nil {
				t.Fatal(err)
			}
			for _, c := range o.Changesets {
				meta[int64(c.ID)] = c
			}
		}
		for id, n := range r.csCount {
			c := meta[int64(id)]
			if c == nil {
				t.Fatalf("%s: changeset %d has elements but no metadata", st.Profile, id)
			}
			if c.ChangesCount != n {
				t.Errorf("%s: changeset %d: num_changes %d, %d element versions in the diffs", st.Profile, id, c.ChangesCount, n)
			}
			const eps = 1e-7
			for _, p := range r.csNodes[id] {
				if p[0] < c.MinLat-eps || p[0] > c.MaxLat+eps || p[1] < c.MinLon-eps || p[1] > c.MaxLon+eps {
					t.Fatalf("%s: changeset %d: node at %v outside its bbox %v,%v %v,%v", st.Profile, id, p, c.MinLat, c.MinLon, c.MaxLat, c.MaxLon)
				}
			}
			// Only the script mapper's changesets (kind no_editor) lack created_by.
			if tags := tagsOf(c.Tags); tags["created_by"] == "" && c.User != "addr-sync script" {
				t.Errorf("changeset %d has no created_by", id)
			}
		}
	}
}

func tagsOf(ts osm.Tags) map[string]string { return ts.Map() }

// TestReviewerCases: the region run shows every case the reviewer looks for.
func TestReviewerCases(t *testing.T) {
	dir, st := regionDir(t)
	for _, k := range Kinds() {
		if st.Kinds[k] == 0 {
			t.Errorf("kind %s never generated in %d minutes", k, st.Minutes)
		}
	}
	r := replay(t, dir, st)
	meta := map[int64]*osm.Changeset{}
	for seq := st.StartSeq; seq <= st.EndSeq; seq++ {
		var o osm.OSM
		xml.Unmarshal(gunzip(t, filepath.Join(dir, "replication/changesets", seqPath(seq)+".osm.gz")), &o)
		for _, c := range o.Changesets {
			meta[int64(c.ID)] = c
		}
	}
	found := map[string]bool{}
	warnings := map[string]bool{} // iD validations named in warnings:* tags
	editors := map[string]bool{}
	for id, c := range meta {
		tags := tagsOf(c.Tags)
		editors[strings.Fields(tags["created_by"] + " x")[0]] = true
		creates, modifies, deletes := 0, 0, 0
		for _, e := range r.csEvs[id] {
			switch e.act {
			case 'c':
				creates++
			case 'm':
				modifies++
			case 'd':
				deletes++
				if e.typ == 'w' {
					prev := r.versions[mkKey(keyWay, e.id)]
					if hw := tagValue(prev[len(prev)-2].tags, "highway"); hw == "motorway" || hw == "trunk" || hw == "primary" {
						found["major road deleted"] = true
					}
				}
			}
			if e.typ == 'n' && len(tagValue(e.tags, "name")) > 80 {
				found["long name"] = true
			}
			if e.typ == 'n' && e.act == 'm' && tagValue(e.tags, "place") != "" {
				found["place renamed"] = true
			}
			if e.typ == 'w' && e.act == 'c' && tagValue(e.tags, "building") != "" && wayArea(r, e) > 500_000 {
				found["large building"] = true
			}
		}
		if creates > 1000 && strings.HasPrefix(tags["created_by"], "JOSM") && strings.Contains(tags["comment"], "import") {
			found["import"] = true
		}
		if deletes > 500 {
			found["mass deletion"] = true
		}
		if n := creates + modifies + deletes; modifies > 200 && float64(modifies)/float64(n) > 0.7 {
			found["mass modification"] = true
		}
		if _, ok := tags["created_by"]; !ok {
			found["no editor"] = true
		}
		if n, err := strconv.Atoi(tags["changesets_count"]); err == nil && n <= 50 && strings.HasPrefix(tags["created_by"], "iD") {
			found["new mapper"] = true
		}
		if tags["review_requested"] == "yes" {
			found["review requested"] = true
		}
		for k := range tags {
			if strings.HasPrefix(k, "warnings:") {
				found["warnings"] = true
				warnings[strings.SplitN(k, ":", 3)[1]] = true
			}
		}
		if strings.Contains(tags["comment"], "#") && tags["hashtags"] != "" {
			found["hashtags"] = true
		}
		if c := strings.ToLower(tags["comment"]); strings.Contains(c, "fuck") || strings.Contains(c, "shit") || strings.Contains(c, "lol") || strings.Contains(c, "test test") {
			found["suspect words"] = true
		}
		if len(r.csMins[id]) >= 3 {
			found["open across minutes"] = true
		}
		if c.CommentsCount > 0 {
			found["discussion"] = true
		}
		if c.MinLat != 0 && c.MaxLat != 0 {
			var w world
			w.poly = readPoly(t, filepath.Join(dir, "region.poly"))
			if !w.inside(c.MinLat, c.MinLon) && !w.inside(c.MaxLat, c.MaxLon) && !w.inside(c.MinLat, c.MaxLon) && !w.inside(c.MaxLat, c.MinLon) {
				found["outside region"] = true
			}
		}
	}
	if r.twice > 0 {
		found["same element twice in a minute"] = true
	}
	if r.maxDrag > 10 {
		found["node dragged > 10 km"] = true
	}
	for _, want := range []string{"major road deleted", "long name", "place renamed", "large building", "import", "mass deletion",
		"new mapper", "review requested", "warnings", "hashtags", "suspect words", "open across minutes", "discussion",
		"outside region", "same element twice in a minute", "node dragged > 10 km", "mass modification", "no editor"} {
		if !found[want] {
			t.Errorf("no %s in %d region minutes", want, st.Minutes)
		}
	}
	for _, v := range []string{"almost_junction", "close_nodes", "crossing_ways", "disconnected_way", "impossible_oneway",
		"mismatched_geometry", "missing_role", "missing_tag", "outdated_tags", "private_data", "unsquare_way",
		"suspicious_name", "incompatible_source"} {
		if !warnings[v] {
			t.Errorf("no changeset with a warnings:%s tag", v)
		}
	}
	for _, e := range []string{"iD", "JOSM/1.5", "StreetComplete", "Every", "Vespucci", "Potlatch", "osmapi/4.1.0"} {
		if !editors[e] {
			t.Errorf("no changeset by editor %s (have %v)", e, editors)
		}
	}
}

func wayArea(r *replayed, e ev) float64 {
	var pts [][2]float64
	for _, id := range e.nodes {
		n := r.cur[mkKey(keyNode, id)]
		if n == nil {
			return 0
		}
		pts = append(pts, [2]float64{n.Lon * 111320 * math.Cos(n.Lat*math.Pi/180), n.Lat * 111320})
	}
	a := 0.0
	for i := 0; i+1 < len(pts); i++ {
		a += pts[i][0]*pts[i+1][1] - pts[i+1][0]*pts[i][1]
	}
	return math.Abs(a) / 2
}

func readPoly(t *testing.T, path string) [][2]float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]float64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		x, e1 := strconv.ParseFloat(f[0], 64)
		y, e2 := strconv.ParseFloat(f[1], 64)
		if e1 == nil && e2 == nil {
			out = append(out, [2]float64{x, y})
		}
	}
	return out
}

func TestPlanetStats(t *testing.T) {
	dir, _ := planetDir(t)
	st, err := ReadStats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.PlanetOK() {
		var b strings.Builder
		st.Write(&b)
		t.Errorf("planet volumes out of range:\n%s", b.String())
	}
	for _, m := range st.PerMinute {
		if m.RegionChangesets*10 > m.Changesets {
			t.Errorf("seq %d: %d of %d changesets in the region: want almost all outside", m.Seq, m.RegionChangesets, m.Changesets)
		}
		if m.GzBytes == 0 || m.GzBytes >= m.XMLBytes {
			t.Errorf("seq %d: gzip %d bytes of %d", m.Seq, m.GzBytes, m.XMLBytes)
		}
	}
	var b strings.Builder
	if err := st.Write(&b); err != nil || !strings.Contains(b.String(), "element versions") {
		t.Errorf("Write: %v\n%s", err, b.String())
	}
	if _, err := ReadStats(t.TempDir()); err == nil {
		t.Error("ReadStats of an empty directory: no error")
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{{Profile: "moon", Minutes: 1, Out: "x"}, {Minutes: 0, Out: "x"}, {Minutes: 1}} {
		if _, err := Generate(context.Background(), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestMonacoBase(t *testing.T) {
	t.Parallel()
	pbf := "../../testdata/osm/extracts/monaco-20150428.osm.pbf"
	if _, err := os.Stat(pbf); err != nil {
		t.Fatal("test data: ", err)
	}
	dir, st := generated(t, Options{Profile: ProfileRegion, Minutes: 10, Seed: 5, Base: pbf})
	replay(t, dir, st)
	if st.Changesets == 0 || st.RegionChangesets == 0 {
		t.Errorf("monaco: %d changesets, %d in region", st.Changesets, st.RegionChangesets)
	}
}

// keep sort imported for helpers below
var _ = sort.Ints
