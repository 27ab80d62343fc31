package sim

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmpbf"
)

const (
	townGrid    = 24    // street lines each way
	townSpacing = 110.0 // metres between streets
	townMargin  = 1500.0
)

var streetSuffix = []string{"straße", "weg", "gasse", "allee", "ring", "platz"}
var streetStem = []string{"Linden", "Birken", "Markt", "Kirch", "Schul", "Bahnhof", "Mühlen", "Garten", "Berg", "Wiesen",
	"Rosen", "Eichen", "Brunnen", "Post", "Feld", "Burg", "Hafen", "Sonnen", "Mond", "Stern", "Tannen", "Ahorn",
	"Quellen", "Fluss", "Hügel", "Ufer", "Wald", "Dorf", "Ost", "West", "Süd", "Nord", "Acker", "Weiden", "Linden-Park",
	"Kastanien", "Buchen", "Erlen", "Eschen", "Pappel", "Wein", "Hopfen", "Salz", "Stein", "Zoll", "Tor", "Turm", "Schloss"}

// buildTown generates the base world: "Simstadt", a street grid with buildings and addresses, POIs,
// a river, a ring road, a motorway, bus routes and multipolygons.
func (g *gen) buildTown() *world {
	w := newWorld()
	w.cityName = "Simstadt"
	w.lat0, w.lon0 = 50.9500, 11.0300
	founder := &mapper{uid: 1000001, name: "Simstadt Founder"}
	t := g.start - 400*86400
	var nid, wid, rid int64 = 1_000_000_000, 100_000_000, 10_000_000
	mk := func(ts int64) meta {
		return meta{ver: 1, visible: true, cs: 100_000_000 + (ts-t)/86400, uid: founder.uid, user: founder.name, ts: ts}
	}
	addNode := func(lat, lon float64, tags []tag) *node {
		nid++
		n := &node{id: nid, lat: fix(lat), lon: fix(lon), tags: tags, meta: mk(t + nid%300*86400)}
		w.nodes[n.id] = n
		return n
	}
	addWay := func(nodes []int64, tags []tag) *way {
		wid++
		x := &way{id: wid, nodes: nodes, tags: tags, meta: mk(t + wid%300*86400)}
		w.ways[x.id] = x
		for _, id := range nodes {
			w.nodeRefs[id]++
		}
		return x
	}
	addRel := func(members []member, tags []tag) *rel {
		rid++
		x := &rel{id: rid, members: members, tags: tags, meta: mk(t + rid%300*86400)}
		w.rels[x.id] = x
		for _, m := range members {
			if m.typ == 'w' {
				w.wayRels[m.ref]++
			}
		}
		return x
	}
	half := float64(townGrid-1) * townSpacing / 2
	pos := func(i, j float64) (float64, float64) { // i: north-south index, j: west-east index
		return w.lat0 + w.dLat(i*townSpacing-half), w.lon0 + w.dLon(j*townSpacing-half)
	}
	// Intersections.
	grid := make([][]*node, townGrid)
	for i := range grid {
		grid[i] = make([]*node, townGrid)
		for j := range grid[i] {
			lat, lon := pos(float64(i), float64(j))
			grid[i][j] = addNode(lat, lon, nil)
		}
	}
	// Street names.
	for i := 0; i < 2*townGrid; i++ {
		w.street = append(w.street, streetStem[i%len(streetStem)]+streetSuffix[i%len(streetSuffix)])
	}
	highwayFor := func(i int) (string, []tag) {
		switch {
		case i == 0 || i == townGrid-1:
			return "trunk", []tag{{"maxspeed", "70"}, {"ref", "B 7"}}
		case i == townGrid/2:
			return "primary", []tag{{"maxspeed", "50"}, {"ref", "L 1052"}}
		case i%6 == 0:
			return "secondary", []tag{{"maxspeed", "50"}}
		case i%3 == 0:
			return "tertiary", nil
		}
		return "residential", []tag{{"maxspeed", "30"}}
	}
	streetWays := map[[2]int][]int64{} // (dir, line) -> ways
	for dir := 0; dir < 2; dir++ {
		for line := 0; line < townGrid; line++ {
			hw, extra := highwayFor(line)
			name := w.street[dir*townGrid+line]
			// three segments sharing end nodes
			for seg := 0; seg < 3; seg++ {
				from := seg * (townGrid - 1) / 3
				to := (seg + 1) * (townGrid - 1) / 3
				var ids []int64
				for k := from; k <= to; k++ {
					if dir == 0 {
						ids = append(ids, grid[line][k].id)
					} else {
						ids = append(ids, grid[k][line].id)
					}
				}
				tags := []tag{{"highway", hw}, {"name", name}}
				tags = append(tags, extra...)
				if hw != "residential" {
					tags = append(tags, tag{"surface", "asphalt"})
				}
				x := addWay(ids, sortTags(tags))
				w.streets = append(w.streets, x.id)
				if hw == "trunk" || hw == "primary" {
					w.majors = append(w.majors, x.id)
				}
				streetWays[[2]int{dir, line}] = append(streetWays[[2]int{dir, line}], x.id)
			}
		}
	}
	// Motorway south of town.
	{
		var ids []int64
		for k := -4; k <= townGrid+3; k++ {
			lat, lon := pos(-6, float64(k))
			ids = append(ids, addNode(lat, lon, nil).id)
		}
		for s := 0; s+1 < len(ids); s += 8 {
			e := min(s+8, len(ids)-1)
			x := addWay(slices.Clone(ids[s:e+1]), []tag{{"highway", "motorway"}, {"lanes", "2"}, {"maxspeed", "120"}, {"oneway", "yes"}, {"ref", "A 99"}})
			w.majors = append(w.majors, x.id)
			w.streets = append(w.streets, x.id)
		}
	}
	// Buildings with addresses, two per block.
	hn := 0
	for i := 0; i+1 < townGrid; i++ {
		for j := 0; j+1 < townGrid; j++ {
			for k := 0; k < 2; k++ {
				hn++
				a0, o0 := pos(float64(i)+0.2, float64(j)+0.15+0.4*float64(k))
				a1, o1 := pos(float64(i)+0.6, float64(j)+0.45+0.4*float64(k))
				ids := []int64{addNode(a0, o0, nil).id, addNode(a0, o1, nil).id, addNode(a1, o1, nil).id, addNode(a1, o0, nil).id}
				ids = append(ids, ids[0])
				tags := []tag{{"building", []string{"house", "residential", "yes", "apartments"}[(i+j+k)%4]}}
				if (i*7+j*3+k)%5 != 0 { // most have an address
					tags = append(tags, tag{"addr:city", w.cityName}, tag{"addr:housenumber", fmt.Sprint(j*2 + k + 1)},
						tag{"addr:postcode", "99" + fmt.Sprint(100+i)}, tag{"addr:street", w.street[i]})
				}
				x := addWay(ids, sortTags(tags))
				w.buildings = append(w.buildings, x.id)
			}
		}
	}
	// POIs.
	poiKinds := [][2]string{{"amenity", "cafe"}, {"amenity", "restaurant"}, {"shop", "bakery"}, {"amenity", "pharmacy"},
		{"shop", "supermarket"}, {"amenity", "bank"}, {"amenity", "school"}, {"shop", "hairdresser"}, {"amenity", "pub"}, {"tourism", "hotel"}}
	for p := 0; p < 220; p++ {
		i, j := float64(p%23)+0.8, float64(p*7%23)+0.5
		lat, lon := pos(i, j)
		k := poiKinds[p%len(poiKinds)]
		n := addNode(lat, lon, sortTags([]tag{{k[0], k[1]}, {"name", fmt.Sprintf("%s %s %d", w.street[p%townGrid], k[1], p)}}))
		w.pois = append(w.pois, n.id)
	}
	// Places.
	w.places = append(w.places, addNode(w.lat0, w.lon0, []tag{{"name", w.cityName}, {"place", "town"}, {"population", "23000"}}).id)
	for q, nm := range []string{"Altstadt", "Neustadt", "Am Fluss", "Oberdorf"} {
		lat, lon := pos(float64(6+12*(q/2)), float64(6+12*(q%2)))
		w.places = append(w.places, addNode(lat, lon, []tag{{"name", nm}, {"place", "suburb"}}).id)
	}
	// River, diagonal.
	var river []int64
	for k := 0; k <= 40; k++ {
		f := float64(k) / 40 * float64(townGrid+6)
		lat, lon := pos(f-3, f-3+2*math.Sin(f/3))
		river = append(river, addNode(lat, lon, nil).id)
	}
	addWay(river, []tag{{"name", "Simbach"}, {"waterway", "river"}})
	// Bus routes along streets.
	for r := 0; r < 3; r++ {
		var ms []member
		for _, wid := range streetWays[[2]int{r % 2, 3 + 6*r}] {
			ms = append(ms, member{'w', wid, ""})
		}
		x := addRel(ms, []tag{{"name", fmt.Sprintf("Bus %d", r+1)}, {"network", "VSS"}, {"ref", fmt.Sprint(r + 1)}, {"route", "bus"}, {"type", "route"}})
		w.routes = append(w.routes, x.id)
	}
	// Multipolygons: parks and forests with a hole.
	ring := func(ci, cj, ri, rj float64, n int) []int64 {
		var ids []int64
		for k := 0; k < n; k++ {
			a := 2 * math.Pi * float64(k) / float64(n)
			lat, lon := pos(ci+ri*math.Sin(a), cj+rj*math.Cos(a))
			ids = append(ids, addNode(lat, lon, nil).id)
		}
		return append(ids, ids[0])
	}
	for q := 0; q < 4; q++ {
		ci, cj := float64(-3), float64(2+6*q)
		outer := addWay(ring(ci, cj, 1.6, 2.2, 12), nil)
		inner := addWay(ring(ci, cj, 0.5, 0.6, 6), nil)
		lu := [][2]string{{"landuse", "forest"}, {"leisure", "park"}, {"natural", "wood"}, {"landuse", "meadow"}}[q]
		x := addRel([]member{{'w', outer.id, "outer"}, {'w', inner.id, "inner"}},
			sortTags([]tag{{lu[0], lu[1]}, {"name", fmt.Sprintf("%s %d", w.street[q+30], q)}, {"type", "multipolygon"}}))
		w.multipolys = append(w.multipolys, x.id)
	}
	// The region: an octagon around the town with a margin.
	r := half + townMargin
	for k := 0; k < 8; k++ {
		a := 2*math.Pi*float64(k)/8 + math.Pi/8
		w.poly = append(w.poly, [2]float64{w.lon0 + w.dLon(r*1.08*math.Cos(a)), w.lat0 + w.dLat(r*1.08*math.Sin(a))})
	}
	w.poly = append(w.poly, w.poly[0])
	w.setBounds()
	return w
}

func (w *world) setBounds() {
	w.minLat, w.minLon, w.maxLat, w.maxLon = 90, 180, -90, -180
	for _, p := range w.poly {
		w.minLon, w.maxLon = min(w.minLon, p[0]), max(w.maxLon, p[0])
		w.minLat, w.maxLat = min(w.minLat, p[1]), max(w.maxLat, p[1])
	}
}

func sortTags(t []tag) []tag {
	slices.SortFunc(t, func(a, b tag) int {
		if a.k < b.k {
			return -1
		}
		if a.k > b.k {
			return 1
		}
		return 0
	})
	return t
}

// loadBase reads a real extract (.osm.pbf) as the region world; the region is its bounding box
// (shrunk a little so that some edits fall outside).
func loadBase(ctx context.Context, path string) (*world, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: base: %w", err)
	}
	defer f.Close()
	w := newWorld()
	sc := osmpbf.New(ctx, f, 1)
	defer sc.Close()
	conv := func(ts osm.Tags) []tag {
		if len(ts) == 0 {
			return nil
		}
		out := make([]tag, len(ts))
		for i, t := range ts {
			out[i] = tag{t.Key, t.Value}
		}
		return sortTags(out)
	}
	for sc.Scan() {
		switch o := sc.Object().(type) {
		case *osm.Node:
			n := &node{id: int64(o.ID), lat: fix(o.Lat), lon: fix(o.Lon), tags: conv(o.Tags),
				meta: meta{ver: int32(o.Version), visible: true, cs: int64(o.ChangesetID), uid: int64(o.UserID), user: o.User, ts: o.Timestamp.Unix()}}
			w.nodes[n.id] = n
			switch {
			case o.Tags.Find("place") != "":
				w.places = append(w.places, n.id)
			case o.Tags.Find("amenity") != "" || o.Tags.Find("shop") != "" || o.Tags.Find("tourism") != "":
				w.pois = append(w.pois, n.id)
			}
		case *osm.Way:
			x := &way{id: int64(o.ID), tags: conv(o.Tags),
				meta: meta{ver: int32(o.Version), visible: true, cs: int64(o.ChangesetID), uid: int64(o.UserID), user: o.User, ts: o.Timestamp.Unix()}}
			for _, wn := range o.Nodes {
				x.nodes = append(x.nodes, int64(wn.ID))
			}
			w.ways[x.id] = x
		case *osm.Relation:
			x := &rel{id: int64(o.ID), tags: conv(o.Tags),
				meta: meta{ver: int32(o.Version), visible: true, cs: int64(o.ChangesetID), uid: int64(o.UserID), user: o.User, ts: o.Timestamp.Unix()}}
			for _, m := range o.Members {
				t := byte('n')
				switch m.Type {
				case osm.TypeWay:
					t = 'w'
				case osm.TypeRelation:
					t = 'r'
				}
				x.members = append(x.members, member{t, m.Ref, m.Role})
			}
			w.rels[x.id] = x
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sim: base %s: %w", path, err)
	}
	if len(w.nodes) == 0 {
		return nil, fmt.Errorf("sim: base %s: no nodes", path)
	}
	// Drop ways and relations that reference what the extract lacks (clipped extracts do).
	for id, x := range w.ways {
		ok := len(x.nodes) >= 2
		for _, n := range x.nodes {
			if w.nodes[n] == nil {
				ok = false
				break
			}
		}
		if !ok {
			delete(w.ways, id)
		}
	}
	for id, x := range w.rels {
		var ms []member
		for _, m := range x.members {
			if (m.typ == 'n' && w.nodes[m.ref] != nil) || (m.typ == 'w' && w.ways[m.ref] != nil) || (m.typ == 'r' && w.rels[m.ref] != nil) {
				ms = append(ms, m)
			}
		}
		if len(ms) == 0 {
			delete(w.rels, id)
			continue
		}
		x.members = ms
	}
	for _, id := range sortedKeys(w.ways) {
		x := w.ways[id]
		for _, n := range x.nodes {
			w.nodeRefs[n]++
		}
		hw := tagValue(x.tags, "highway")
		switch {
		case hw != "":
			w.streets = append(w.streets, id)
			if hw == "motorway" || hw == "trunk" || hw == "primary" {
				w.majors = append(w.majors, id)
			}
		case tagValue(x.tags, "building") != "" && len(x.nodes) >= 4 && x.nodes[0] == x.nodes[len(x.nodes)-1]:
			w.buildings = append(w.buildings, id)
		}
	}
	for _, id := range sortedKeys(w.rels) {
		x := w.rels[id]
		for _, m := range x.members {
			if m.typ == 'w' {
				w.wayRels[m.ref]++
			}
		}
		switch tagValue(x.tags, "type") {
		case "route":
			w.routes = append(w.routes, id)
		case "multipolygon":
			w.multipolys = append(w.multipolys, id)
		}
	}
	slices.Sort(w.pois)
	slices.Sort(w.places)
	if len(w.streets) == 0 || len(w.buildings) == 0 {
		return nil, fmt.Errorf("sim: base %s: needs streets and buildings", path)
	}
	// Region: the nodes' bounding box, 10% inside; centre in the middle.
	minLat, minLon, maxLat, maxLon := 90.0, 180.0, -90.0, -180.0
	for _, n := range w.nodes {
		minLat, maxLat = min(minLat, deg(n.lat)), max(maxLat, deg(n.lat))
		minLon, maxLon = min(minLon, deg(n.lon)), max(maxLon, deg(n.lon))
	}
	dl, do := (maxLat-minLat)*0.05, (maxLon-minLon)*0.05
	minLat, maxLat, minLon, maxLon = minLat+dl, maxLat-dl, minLon+do, maxLon-do
	w.lat0, w.lon0 = (minLat+maxLat)/2, (minLon+maxLon)/2
	w.poly = [][2]float64{{minLon, minLat}, {maxLon, minLat}, {maxLon, maxLat}, {minLon, maxLat}, {minLon, minLat}}
	w.setBounds()
	w.cityName = "Monaco"
	seen := map[string]bool{}
	for _, id := range w.streets {
		if n := tagValue(w.ways[id].tags, "name"); n != "" && !seen[n] {
			seen[n] = true
			w.street = append(w.street, n)
		}
	}
	if len(w.street) == 0 {
		w.street = []string{"Rue Principale"}
	}
	if len(w.places) == 0 {
		n := &node{id: 1, lat: fix(w.lat0), lon: fix(w.lon0), tags: []tag{{"name", w.cityName}, {"place", "city"}},
			meta: meta{ver: 1, visible: true, cs: 1, uid: 1, user: "base", ts: 1}}
		if w.nodes[1] == nil {
			w.nodes[1] = n
			w.places = append(w.places, 1)
		}
	}
	return w, nil
}
