package region

import (
	"math"

	"github.com/paulmach/orb"
)

type edge struct{ ax, ay, bx, by float64 }

// polyIndex is one polygon (outer ring and holes) with its edges bucketed into horizontal
// strips of equal height: strip i holds every edge whose latitude span, widened by the buffer,
// overlaps it. A point test reads one strip; a crossing-number test over those edges decides
// inside (holes count like any ring), and with a buffer the distance to the same edges decides
// "near".
type polyIndex struct {
	b       orb.Bound // buffered bound
	minY    float64
	scale   float64 // strips per degree
	n       int
	start   []int32 // strip i holds edges[start[i]:start[i+1]]
	edges   []edge
	bufferM float64
	dLat    float64
}

func buildIndex(poly orb.Polygon, bufferM, dLat float64) *polyIndex {
	b := poly.Bound()
	nEdges := 0
	for _, r := range poly {
		nEdges += len(r) - 1
	}
	dLon := 0.0
	if bufferM > 0 {
		maxLat := math.Min(math.Max(math.Abs(b.Min[1]), math.Abs(b.Max[1]))+dLat, 89.9)
		dLon = math.Min(dLat/math.Cos(maxLat*math.Pi/180), 360)
	}
	b.Min = orb.Point{b.Min[0] - dLon, b.Min[1] - dLat}
	b.Max = orb.Point{b.Max[0] + dLon, b.Max[1] + dLat}
	pi := &polyIndex{b: b, minY: b.Min[1], bufferM: bufferM, dLat: dLat}
	pi.n = nEdges / 4
	if pi.n < 1 {
		pi.n = 1
	}
	if pi.n > 1<<16 {
		pi.n = 1 << 16
	}
	h := b.Max[1] - b.Min[1]
	if h <= 0 {
		h = 1e-9
	}
	pi.scale = float64(pi.n) / h
	counts := make([]int32, pi.n+1)
	each := func(f func(e edge, s0, s1 int)) {
		for _, r := range poly {
			for i := 1; i < len(r); i++ {
				e := edge{r[i-1][0], r[i-1][1], r[i][0], r[i][1]}
				lo, hi := math.Min(e.ay, e.by)-dLat, math.Max(e.ay, e.by)+dLat
				f(e, pi.strip(lo), pi.strip(hi))
			}
		}
	}
	each(func(_ edge, s0, s1 int) {
		for s := s0; s <= s1; s++ {
			counts[s+1]++
		}
	})
	for i := 1; i <= pi.n; i++ {
		counts[i] += counts[i-1]
	}
	pi.start = counts
	pi.edges = make([]edge, counts[pi.n])
	fill := make([]int32, pi.n)
	copy(fill, counts[:pi.n])
	each(func(e edge, s0, s1 int) {
		for s := s0; s <= s1; s++ {
			pi.edges[fill[s]] = e
			fill[s]++
		}
	})
	return pi
}

func (pi *polyIndex) strip(y float64) int {
	s := int((y - pi.minY) * pi.scale)
	if s < 0 {
		return 0
	}
	if s >= pi.n {
		return pi.n - 1
	}
	return s
}

func (pi *polyIndex) contains(p orb.Point) bool {
	if !pi.b.Contains(p) {
		return false
	}
	s := pi.strip(p[1])
	edges := pi.edges[pi.start[s]:pi.start[s+1]]
	px, py := p[0], p[1]
	in := false
	for i := range edges {
		e := &edges[i]
		if (e.ay > py) != (e.by > py) && px < e.ax+(py-e.ay)*(e.bx-e.ax)/(e.by-e.ay) {
			in = !in
		}
	}
	if in || pi.bufferM <= 0 {
		return in
	}
	// Within the buffer of an edge? Local equirectangular metres around p.
	kx := math.Cos(py*math.Pi/180) * metresPerDegree
	ky := metresPerDegree
	lim := pi.bufferM * pi.bufferM
	for i := range edges {
		e := &edges[i]
		ax, ay := (e.ax-px)*kx, (e.ay-py)*ky
		bx, by := (e.bx-px)*kx, (e.by-py)*ky
		if segDist2(ax, ay, bx, by) <= lim {
			return true
		}
	}
	return false
}

// segDist2 is the squared distance from the origin to segment a-b.
func segDist2(ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	l := dx*dx + dy*dy
	t := 0.0
	if l > 0 {
		t = -(ax*dx + ay*dy) / l
		t = math.Max(0, math.Min(1, t))
	}
	x, y := ax+t*dx, ay+t*dy
	return x*x + y*y
}

// intersects reports whether rectangle q touches the (buffered) polygon: an edge enters q
// (q widened by the buffer), or q's centre lies inside.
func (pi *polyIndex) intersects(q orb.Bound) bool {
	if !pi.b.Intersects(q) {
		return false
	}
	if pi.bufferM > 0 {
		lat := math.Min(math.Max(math.Abs(q.Min[1]), math.Abs(q.Max[1])), 89.9)
		dLon := math.Min(pi.dLat/math.Cos(lat*math.Pi/180), 360)
		q.Min = orb.Point{q.Min[0] - dLon, q.Min[1] - pi.dLat}
		q.Max = orb.Point{q.Max[0] + dLon, q.Max[1] + pi.dLat}
	}
	if pi.contains(q.Center()) {
		return true
	}
	s0, s1 := pi.strip(q.Min[1]), pi.strip(q.Max[1])
	for i := pi.start[s0]; i < pi.start[s1+1]; i++ {
		e := &pi.edges[i]
		if segmentHitsRect(e.ax, e.ay, e.bx, e.by, q) {
			return true
		}
	}
	return false
}

// segmentHitsRect clips segment a-b against rectangle q (Liang–Barsky).
func segmentHitsRect(ax, ay, bx, by float64, q orb.Bound) bool {
	t0, t1 := 0.0, 1.0
	dx, dy := bx-ax, by-ay
	clip := func(p, r float64) bool {
		if p == 0 {
			return r >= 0
		}
		t := r / p
		if p < 0 {
			if t > t1 {
				return false
			}
			if t > t0 {
				t0 = t
			}
		} else {
			if t < t0 {
				return false
			}
			if t < t1 {
				t1 = t
			}
		}
		return true
	}
	return clip(-dx, ax-q.Min[0]) && clip(dx, q.Max[0]-ax) &&
		clip(-dy, ay-q.Min[1]) && clip(dy, q.Max[1]-ay)
}
