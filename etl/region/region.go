// Package region loads the areas of interest (Osmosis .poly files, GeoJSON files or inline
// GeoJSON, optionally grown by a buffer in metres) and answers point-in-region and
// bbox-intersects-region questions fast: a bounding-box test first, then a per-polygon index
// of edges bucketed into horizontal strips, so a test touches only the few edges whose
// latitude span covers the point, even for country outlines with tens of thousands of vertices.
//
// Rings that cross the antimeridian (consecutive vertices more than 180° of longitude apart)
// are unwrapped to continuous longitudes beyond 180 and points are tested at lon and lon+360,
// so a ring such as 179 → -179 means the narrow band across ±180, not the rest of the world.
package region

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"
	"gopkg.in/yaml.v3"

	"github.com/osmtrack/osmtrack/etl/config"
)

// metresPerDegree is the length of one degree of latitude (and of longitude at the equator).
const metresPerDegree = 111_320.0

// Region is one named area of interest, ready for fast point and bbox tests.
type Region struct {
	Name    string  // the key under `regions:` in the configuration
	Source  string  // the file it came from, or "inline"
	BufferM float64 // metres added around the outline (0: the outline itself)

	mp    orb.MultiPolygon // the outline as read (unwrapped across ±180), without the buffer
	polys []*polyIndex
	bound orb.Bound // of the buffered outline, in unwrapped longitudes
	wraps bool      // some ring extends past lon 180: test points at lon+360 too
	area  float64
}

// Outline is the region's outline as configured (without the buffer).
func (r *Region) Outline() orb.MultiPolygon { return r.mp }

// Set is the configured regions, sorted by name. An empty Set means the whole planet.
type Set []*Region

// LoadSet loads every configured region. Errors name the region, the file and the line.
func LoadSet(regions map[string]config.Region) (Set, error) {
	names := make([]string, 0, len(regions))
	for n := range regions {
		names = append(names, n)
	}
	sort.Strings(names)
	s := make(Set, 0, len(names))
	for _, n := range names {
		r, err := Load(n, regions[n])
		if err != nil {
			return nil, err
		}
		s = append(s, r)
	}
	return s, nil
}

// Contains reports whether p lies in any region; every point does when the set is empty.
func (s Set) Contains(p orb.Point) bool {
	if len(s) == 0 {
		return true
	}
	for _, r := range s {
		if r.Contains(p) {
			return true
		}
	}
	return false
}

// Matching returns the names of the regions containing p (nil for an empty set).
func (s Set) Matching(p orb.Point) []string {
	var names []string
	for _, r := range s {
		if r.Contains(p) {
			names = append(names, r.Name)
		}
	}
	return names
}

// Get returns the region called name, or nil.
func (s Set) Get(name string) *Region {
	for _, r := range s {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Bound returns the union of the regions' bounds (the whole planet for an empty set).
func (s Set) Bound() orb.Bound {
	if len(s) == 0 {
		return orb.Bound{Min: orb.Point{-180, -90}, Max: orb.Point{180, 90}}
	}
	b := s[0].Bound()
	for _, r := range s[1:] {
		b = b.Union(r.Bound())
	}
	return b
}

// Load reads one region: r.File (a .poly file, or a GeoJSON file with a Polygon, MultiPolygon,
// Feature or FeatureCollection of those) or the inline r.GeoJSON, grown by r.BufferM metres.
func Load(name string, r config.Region) (*Region, error) {
	var (
		mp     orb.MultiPolygon
		err    error
		source string
	)
	switch {
	case r.File != "" && r.GeoJSON.Kind != 0:
		return nil, fmt.Errorf("region %s: give file or geojson, not both", name)
	case r.File != "":
		source = r.File
		mp, err = loadFile(r.File)
	case r.GeoJSON.Kind != 0:
		source = "inline"
		mp, err = inlineGeoJSON(&r.GeoJSON)
		if err != nil {
			err = fmt.Errorf("regions.%s.geojson (config line %d): %w", name, r.GeoJSON.Line, err)
		}
	default:
		return nil, fmt.Errorf("region %s: needs file or geojson", name)
	}
	if err != nil {
		return nil, fmt.Errorf("region %s: %w", name, err)
	}
	if r.BufferM < 0 || math.IsNaN(r.BufferM) {
		return nil, fmt.Errorf("region %s: buffer_m must not be negative", name)
	}
	return New(name, source, mp, r.BufferM)
}

// New builds a region from an outline (rings closed or not; holes after their outer ring).
func New(name, source string, mp orb.MultiPolygon, bufferM float64) (*Region, error) {
	reg := &Region{Name: name, Source: source, BufferM: bufferM}
	for i, poly := range mp {
		if len(poly) == 0 {
			return nil, fmt.Errorf("region %s: polygon %d has no rings", name, i+1)
		}
		var np orb.Polygon
		var outerMid float64
		for j, ring := range poly {
			ring = closeRing(ring)
			if distinctPoints(ring) < 3 {
				return nil, fmt.Errorf("region %s: polygon %d ring %d has fewer than 3 distinct points", name, i+1, j+1)
			}
			ring = unwrap(ring)
			rb := ring.Bound()
			mid := (rb.Min[0] + rb.Max[0]) / 2
			if j == 0 {
				outerMid = mid
			} else if d := mid - outerMid; d > 180 || d < -180 {
				shift := -360.0
				if d < 0 {
					shift = 360
				}
				ring = shiftRing(ring, shift)
			}
			np = append(np, ring)
		}
		reg.mp = append(reg.mp, np)
	}
	if len(reg.mp) == 0 {
		return nil, fmt.Errorf("region %s: no polygons", name)
	}
	dLat := bufferM / metresPerDegree
	for _, poly := range reg.mp {
		pi := buildIndex(poly, bufferM, dLat)
		reg.polys = append(reg.polys, pi)
		if len(reg.polys) == 1 {
			reg.bound = pi.b
		} else {
			reg.bound = reg.bound.Union(pi.b)
		}
		a := math.Abs(geo.Area(poly))
		if bufferM > 0 {
			a += geo.Length(poly[0])*bufferM + math.Pi*bufferM*bufferM
		}
		reg.area += a
	}
	reg.wraps = reg.bound.Max[0] > 180
	return reg, nil
}

// Contains reports whether p (lon, lat) lies in the region or within BufferM of it.
func (r *Region) Contains(p orb.Point) bool {
	if r.containsAt(p) {
		return true
	}
	return r.wraps && r.containsAt(orb.Point{p[0] + 360, p[1]})
}

func (r *Region) containsAt(p orb.Point) bool {
	if !r.bound.Contains(p) {
		return false
	}
	for _, pi := range r.polys {
		if pi.contains(p) {
			return true
		}
	}
	return false
}

// IntersectsBound reports whether the rectangle b (a changeset bbox) touches the region:
// it overlaps an edge of the outline, or one lies inside the other.
func (r *Region) IntersectsBound(b orb.Bound) bool {
	if r.intersectsAt(b) {
		return true
	}
	return r.wraps && r.intersectsAt(orb.Bound{Min: orb.Point{b.Min[0] + 360, b.Min[1]}, Max: orb.Point{b.Max[0] + 360, b.Max[1]}})
}

func (r *Region) intersectsAt(b orb.Bound) bool {
	if !r.bound.Intersects(b) {
		return false
	}
	for _, pi := range r.polys {
		if pi.intersects(b) {
			return true
		}
	}
	return false
}

// Bound returns the bounding box of the region including its buffer, in longitudes
// -180..180: a region that crosses the antimeridian gets the full longitude range.
func (r *Region) Bound() orb.Bound {
	b := r.bound
	if b.Max[0] > 180 || b.Min[0] < -180 {
		b.Min[0], b.Max[0] = -180, 180
	}
	b.Min[1] = math.Max(b.Min[1], -90)
	b.Max[1] = math.Min(b.Max[1], 90)
	return b
}

// MultiPolygon returns the outline as read, without the buffer. Rings crossing the antimeridian
// are unwrapped (longitudes past 180).
func (r *Region) MultiPolygon() orb.MultiPolygon { return r.mp }

// AreaM2 is the region's area on the sphere in square metres, the buffer included
// (approximated as perimeter × buffer + π buffer²).
func (r *Region) AreaM2() float64 { return r.area }

// Vertices is the number of ring vertices, holes included.
func (r *Region) Vertices() int {
	n := 0
	for _, p := range r.mp {
		for _, ring := range p {
			n += len(ring)
		}
	}
	return n
}

func closeRing(r orb.Ring) orb.Ring {
	if len(r) > 0 && r[0] != r[len(r)-1] {
		r = append(append(orb.Ring(nil), r...), r[0])
	}
	return r
}

// unwrap makes longitudes continuous across ±180 and moves the ring so its west end is
// at or east of -180.
func unwrap(r orb.Ring) orb.Ring {
	crosses := false
	for i := 1; i < len(r); i++ {
		if d := r[i][0] - r[i-1][0]; d > 180 || d < -180 {
			crosses = true
			break
		}
	}
	if !crosses {
		return r
	}
	out := make(orb.Ring, len(r))
	out[0] = r[0]
	for i := 1; i < len(r); i++ {
		x := r[i][0]
		prev := out[i-1][0]
		for x-prev > 180 {
			x -= 360
		}
		for x-prev < -180 {
			x += 360
		}
		out[i] = orb.Point{x, r[i][1]}
	}
	if b := out.Bound(); b.Min[0] < -180 {
		out = shiftRing(out, 360)
	}
	return out
}

// distinctPoints counts the points of a closed ring that differ from their predecessor.
func distinctPoints(r orb.Ring) int {
	n := 0
	for i := 1; i < len(r); i++ {
		if r[i] != r[i-1] {
			n++
		}
	}
	return n
}

func shiftRing(r orb.Ring, dx float64) orb.Ring {
	out := make(orb.Ring, len(r))
	for i, p := range r {
		out[i] = orb.Point{p[0] + dx, p[1]}
	}
	return out
}

func loadFile(path string) (orb.MultiPolygon, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ext := strings.ToLower(filepath.Ext(path))
	isJSON := ext == ".geojson" || ext == ".json"
	if ext != ".poly" && !isJSON {
		isJSON = bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
	}
	if isJSON {
		mp, err := parseGeoJSON(data)
		if err != nil {
			return nil, fmt.Errorf("%s%w", path, err)
		}
		return mp, nil
	}
	return ParsePoly(bytes.NewReader(data), path)
}

func inlineGeoJSON(n *yaml.Node) (orb.MultiPolygon, error) {
	var data []byte
	if n.Kind == yaml.ScalarNode {
		data = []byte(n.Value)
	} else {
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		var err error
		if data, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	mp, err := parseGeoJSON(data)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), ": "))
	}
	return mp, nil
}

// parseGeoJSON returns polygons from a Polygon, MultiPolygon, Feature or FeatureCollection.
// Errors start with ":LINE: " (or ": ") so the caller can put the file name in front.
func parseGeoJSON(data []byte) (orb.MultiPolygon, error) {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf(":%d: invalid GeoJSON: %v", lineAt(data, se.Offset), err)
		case errors.As(err, &te):
			return nil, fmt.Errorf(":%d: invalid GeoJSON: %v", lineAt(data, te.Offset), err)
		}
		return nil, fmt.Errorf(": invalid GeoJSON: %v", err)
	}
	var geoms []orb.Geometry
	var where []string
	switch probe.Type {
	case "FeatureCollection":
		fc, err := geojson.UnmarshalFeatureCollection(data)
		if err != nil {
			return nil, fmt.Errorf(": invalid GeoJSON FeatureCollection: %v", err)
		}
		for i, f := range fc.Features {
			geoms = append(geoms, f.Geometry)
			where = append(where, fmt.Sprintf("feature %d", i+1))
		}
	case "Feature":
		f, err := geojson.UnmarshalFeature(data)
		if err != nil {
			return nil, fmt.Errorf(": invalid GeoJSON Feature: %v", err)
		}
		geoms, where = []orb.Geometry{f.Geometry}, []string{"feature"}
	case "Polygon", "MultiPolygon":
		g, err := geojson.UnmarshalGeometry(data)
		if err != nil {
			return nil, fmt.Errorf(": invalid GeoJSON %s: %v", probe.Type, err)
		}
		geoms, where = []orb.Geometry{g.Geometry()}, []string{"geometry"}
	case "":
		return nil, fmt.Errorf(": invalid GeoJSON: no \"type\"")
	default:
		return nil, fmt.Errorf(": GeoJSON type %q is not a Polygon, MultiPolygon, Feature or FeatureCollection", probe.Type)
	}
	var mp orb.MultiPolygon
	for i, g := range geoms {
		switch g := g.(type) {
		case orb.Polygon:
			mp = append(mp, g)
		case orb.MultiPolygon:
			mp = append(mp, g...)
		case nil:
			return nil, fmt.Errorf(": %s has no geometry", where[i])
		default:
			return nil, fmt.Errorf(": %s is a %s, not a Polygon or MultiPolygon", where[i], g.GeoJSONType())
		}
	}
	if len(mp) == 0 {
		return nil, fmt.Errorf(": GeoJSON has no polygons")
	}
	return mp, nil
}

func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}
