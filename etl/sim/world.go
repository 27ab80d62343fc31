package sim

import (
	"math"
)

// ev is one element version as it appears in a diff (and in the API's history).
type ev struct {
	typ      byte // 'n', 'w', 'r'
	act      byte // 'c' create, 'm' modify, 'd' delete
	id       int64
	ver      int32
	ts       int64
	cs       int64
	uid      int64
	user     string
	lat, lon int32
	tags     []tag
	nodes    []int64
	members  []member
}

// meta is an element's current version metadata.
type meta struct {
	ver     int32
	visible bool
	cs      int64
	uid     int64
	user    string
	ts      int64
}

type node struct {
	meta
	id       int64
	lat, lon int32
	tags     []tag
}

type way struct {
	meta
	id    int64
	nodes []int64
	tags  []tag
}

type rel struct {
	meta
	id      int64
	members []member
	tags    []tag
}

// Fixed-point coordinates (1e-7 degrees, as the OSM database stores them).
func fix(deg float64) int32 { return int32(math.Round(deg * 1e7)) }
func deg(v int32) float64   { return float64(v) / 1e7 }

// world is the region's full state: small enough for memory, every version kept in the diffs.
type world struct {
	nodes map[int64]*node
	ways  map[int64]*way
	rels  map[int64]*rel

	nodeRefs map[int64]int32 // visible ways referencing a node
	wayRels  map[int64]int32 // visible relations referencing a way

	// Lists to draw from (may hold deleted ids: check visible).
	streets, majors, buildings, pois, places, routes, multipolys []int64

	lat0, lon0                     float64 // region centre
	poly                           [][2]float64
	minLat, maxLat, minLon, maxLon float64
	street                         []string // street names
	cityName                       string
}

func newWorld() *world {
	return &world{
		nodes:    map[int64]*node{},
		ways:     map[int64]*way{},
		rels:     map[int64]*rel{},
		nodeRefs: map[int64]int32{},
		wayRels:  map[int64]int32{},
	}
}

func tagValue(tags []tag, k string) string {
	for _, t := range tags {
		if t.k == k {
			return t.v
		}
	}
	return ""
}

// setTag returns a copy of tags with k=v (tags are shared with emitted versions: never mutate).
func setTag(tags []tag, k, v string) []tag {
	out := make([]tag, 0, len(tags)+1)
	found := false
	for _, t := range tags {
		if t.k == k {
			found = true
			if v == "" {
				continue
			}
			t.v = v
		}
		out = append(out, t)
	}
	if !found && v != "" {
		out = append(out, tag{k, v})
	}
	return out
}

func (w *world) inside(lat, lon float64) bool {
	return pointInPoly(w.poly, lon, lat)
}

// pointInPoly: ray casting; poly is a ring of [lon, lat].
func pointInPoly(poly [][2]float64, x, y float64) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		xi, yi := poly[i][0], poly[i][1]
		xj, yj := poly[j][0], poly[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

// metres to degrees around the region centre.
func (w *world) dLat(m float64) float64 { return m / 111320 }
func (w *world) dLon(m float64) float64 { return m / (111320 * math.Cos(w.lat0*math.Pi/180)) }
