package sim

import (
	"fmt"
	"math"
)

// background is the planet outside the region: 150-300 changesets a minute. Its state is a bounded
// ring of recently created buildings and POIs (older ones are simply never edited again), so memory
// stays flat however long the run.
const (
	bgPoolSize = 150_000
	bgPOISize  = 60_000
)

type bgNode struct {
	id       int64
	ver      int32
	lat, lon int32
}

type bgBuilding struct {
	origin int64 // changeset that created it (entries of one changeset are local to each other)
	way    int64 // 0: deleted
	wver   int32
	nodes  [4]bgNode
}

type bgPOI struct {
	origin int64
	n      bgNode // id 0: deleted
	kind   int
}

type background struct {
	g     *gen
	pool  []bgBuilding
	next  int // ring write position
	full  bool
	pois  []bgPOI
	pnext int
	pfull bool
}

func newBackground(g *gen) *background {
	return &background{g: g, pool: make([]bgBuilding, bgPoolSize), pois: make([]bgPOI, bgPOISize)}
}

var bgComments = []string{"Added buildings", "add building", "buildings", "Added missing houses", "road", "Added road",
	"update", "Edificios", "Ajout de bâtiments", "Gebäude", "建物を追加", "Добавлены здания", "mapeando edificios #MissingMaps",
	"Added POIs", "fixed tags", "name", "address", "survey", "StreetComplete quests", "cleanup", "Corrected geometry",
	"#hotosm-project-15012 #MapLesotho", "Updated opening hours", "deleted demolished buildings"}

var bgBuildingTags = [][]tag{
	{{"building", "yes"}}, {{"building", "yes"}}, {{"building", "yes"}}, {{"building", "house"}},
	{{"building", "residential"}}, {{"building", "yes"}, {"building:levels", "2"}}, {{"building", "garage"}},
	{{"building", "yes"}, {"source", "Maxar"}}, {{"building", "commercial"}, {"building:levels", "4"}},
}
var bgRoadTags = [][]tag{
	{{"highway", "residential"}}, {{"highway", "track"}}, {{"highway", "service"}}, {{"highway", "path"}},
	{{"highway", "unclassified"}, {"surface", "unpaved"}}, {{"highway", "footway"}, {"surface", "paving_stones"}},
}
var bgPOITags = [][]tag{
	{{"amenity", "place_of_worship"}, {"religion", "christian"}}, {{"amenity", "school"}, {"name", "Escola Municipal"}},
	{{"shop", "convenience"}}, {{"amenity", "waste_basket"}}, {{"highway", "street_lamp"}}, {{"natural", "tree"}},
	{{"amenity", "restaurant"}, {"cuisine", "pizza"}, {"name", "Pizzeria Roma"}}, {{"barrier", "gate"}},
	{{"amenity", "bench"}, {"backrest", "yes"}}, {{"power", "pole"}},
}

func (b *background) minute(t0 int64) {
	g := b.g
	r := g.r
	nCS := 160 + r.IntN(121)
	// Element versions of the whole minute: the region's edits (already made) count too.
	target := max(10400+r.IntN(8000)-len(g.evs), 1000)
	// Heavy-tailed sizes, like the real feed: most changesets are small, a few are big.
	weights := make([]float64, nCS)
	sum := 0.0
	for i := range weights {
		weights[i] = math.Exp(r.NormFloat64() * 1.4)
		sum += weights[i]
	}
	for i := 0; i < nCS; i++ {
		size := max(1, int(float64(target)*weights[i]/sum))
		b.changeset(t0+int64(r.IntN(55)), size)
	}
}

func (b *background) randCentre() (int32, int32) {
	g := b.g
	w := g.w
	for {
		lat := -55 + g.r.Float64()*125
		lon := -170 + g.r.Float64()*345
		if math.Abs(lat-w.lat0) < 2 && math.Abs(lon-w.lon0) < 2 {
			continue
		}
		return fix(lat), fix(lon)
	}
}

func (b *background) changeset(at int64, size int) {
	g := b.g
	r := g.r
	m := g.pop.bg[r.IntN(len(g.pop.bg))]
	tags := []tag{{"comment", bgComments[r.IntN(len(bgComments))]}}
	if r.IntN(3) == 0 {
		tags = append(tags, tag{"source", "Bing Maps Aerial"})
	}
	cs := g.newChangeset(m, "background", at, tags)
	cs.background = true
	up := at + 1 + int64(r.IntN(4))
	// A changeset works in one place: an earlier changeset's place (to modify and delete there) or a new one.
	clat, clon := b.randCentre()
	var seg []int // pool entries of one earlier changeset
	if r.IntN(100) < 60 && (b.next > 0 || b.full) {
		n := b.next
		if b.full {
			n = len(b.pool)
		}
		i := r.IntN(n)
		if e := &b.pool[i]; e.way != 0 {
			clat, clon = e.nodes[0].lat, e.nodes[0].lon
			for j := i; j < n && len(seg) < 40 && b.pool[j].origin == e.origin; j++ {
				if b.pool[j].way != 0 {
					seg = append(seg, j)
				}
			}
		}
	}
	done := 0
	for done < size {
		x := r.IntN(100)
		if len(seg) == 0 && x >= 60 {
			x = r.IntN(60)
		} else if len(seg) > 0 && x < 85 {
			x = 60 + r.IntN(30) // working where others mapped: mostly modifications
		}
		switch {
		case x < 45:
			done += b.newBuilding(cs, up, clat, clon)
		case x < 53:
			done += b.newRoad(cs, up, clat, clon)
		case x < 60:
			done += b.newPOI(cs, up, clat, clon)
		case x < 90:
			i := seg[r.IntN(len(seg))]
			e := &b.pool[i]
			if e.way == 0 {
				seg = removeInt(seg, i)
				continue
			}
			if y := r.IntN(100); y < 65 { // move the building (45%) or one corner (20%)
				dlat, dlon := int32(r.IntN(81)-40), int32(r.IntN(81)-40)
				for k := range e.nodes {
					if y >= 45 && k > 0 {
						break
					}
					e.nodes[k].lat += dlat
					e.nodes[k].lon += dlon
					e.nodes[k].ver++
					g.emit(cs, ev{typ: 'n', act: 'm', id: e.nodes[k].id, ver: e.nodes[k].ver, ts: up, lat: e.nodes[k].lat, lon: e.nodes[k].lon})
					done++
				}
			} else {
				e.wver++
				b.emitWay(cs, e, 'm', up, bgBuildingTags[r.IntN(len(bgBuildingTags))])
				done++
			}
		default:
			i := seg[r.IntN(len(seg))]
			e := &b.pool[i]
			seg = removeInt(seg, i)
			if e.way == 0 {
				continue
			}
			e.wver++
			b.emitWay(cs, e, 'd', up, nil)
			for k := range e.nodes {
				e.nodes[k].ver++
				n := e.nodes[k]
				g.emit(cs, ev{typ: 'n', act: 'd', id: n.id, ver: n.ver, ts: up, lat: n.lat, lon: n.lon})
			}
			e.way = 0
			done += 5
		}
	}
	g.closeChangeset(cs, min(up+1+int64(r.IntN(3)), g.t0()+59))
}

func removeInt(s []int, v int) []int {
	for i, x := range s {
		if x == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

func (b *background) emitWay(cs *changeset, e *bgBuilding, act byte, at int64, tags []tag) {
	var nodes []int64
	if act != 'd' {
		nodes = []int64{e.nodes[0].id, e.nodes[1].id, e.nodes[2].id, e.nodes[3].id, e.nodes[0].id}
	}
	for _, n := range e.nodes {
		cs.extend(n.lat, n.lon)
	}
	b.g.emit(cs, ev{typ: 'w', act: act, id: e.way, ver: e.wver, ts: at, nodes: nodes, tags: tags})
}

func (b *background) newNodeAt(cs *changeset, at int64, lat, lon int32, tags []tag) bgNode {
	g := b.g
	n := bgNode{id: g.nextNode, ver: 1, lat: lat, lon: lon}
	g.nextNode++
	g.emit(cs, ev{typ: 'n', act: 'c', id: n.id, ver: 1, ts: at, lat: lat, lon: lon, tags: tags})
	return n
}

func (b *background) newBuilding(cs *changeset, at int64, clat, clon int32) int {
	g := b.g
	r := g.r
	lat := clat + int32(r.IntN(20000)-10000) // within about 1 km
	lon := clon + int32(r.IntN(20000)-10000)
	dl, do := int32(40+r.IntN(80)), int32(50+r.IntN(100)) // 5-15 m
	e := bgBuilding{origin: cs.id, way: g.nextWay, wver: 1}
	g.nextWay++
	e.nodes[0] = b.newNodeAt(cs, at, lat, lon, nil)
	e.nodes[1] = b.newNodeAt(cs, at, lat, lon+do, nil)
	e.nodes[2] = b.newNodeAt(cs, at, lat+dl, lon+do, nil)
	e.nodes[3] = b.newNodeAt(cs, at, lat+dl, lon, nil)
	b.emitWay(cs, &e, 'c', at, bgBuildingTags[r.IntN(len(bgBuildingTags))])
	b.pool[b.next] = e
	b.next++
	if b.next == len(b.pool) {
		b.next, b.full = 0, true
	}
	return 5
}

func (b *background) newRoad(cs *changeset, at int64, clat, clon int32) int {
	g := b.g
	r := g.r
	lat := clat + int32(r.IntN(20000)-10000)
	lon := clon + int32(r.IntN(20000)-10000)
	n := 4 + r.IntN(12)
	ids := make([]int64, 0, n)
	dlat, dlon := int32(r.IntN(600)-300), int32(r.IntN(600)-300)
	for k := 0; k < n; k++ {
		nd := b.newNodeAt(cs, at, lat, lon, nil)
		ids = append(ids, nd.id)
		lat += dlat + int32(r.IntN(100)-50)
		lon += dlon + int32(r.IntN(100)-50)
	}
	id := g.nextWay
	g.nextWay++
	tags := bgRoadTags[r.IntN(len(bgRoadTags))]
	if r.IntN(4) == 0 {
		tags = append(append([]tag(nil), tags...), tag{"name", fmt.Sprintf("Rua %d", r.IntN(500))})
	}
	g.emit(cs, ev{typ: 'w', act: 'c', id: id, ver: 1, ts: at, nodes: ids, tags: tags})
	return n + 1
}

func (b *background) newPOI(cs *changeset, at int64, clat, clon int32) int {
	r := b.g.r
	k := r.IntN(len(bgPOITags))
	n := b.newNodeAt(cs, at, clat+int32(r.IntN(20000)-10000), clon+int32(r.IntN(20000)-10000), bgPOITags[k])
	b.pois[b.pnext] = bgPOI{origin: cs.id, n: n, kind: k}
	b.pnext++
	if b.pnext == len(b.pois) {
		b.pnext, b.pfull = 0, true
	}
	return 1
}
