package site

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/paulmach/orb"
)

// regionMap is the map on a region page: its changesets as points (map.js clusters them, as on
// map.html), fit to the region, the outlines drawn from regions.geojson.
type regionMap struct {
	Bounds, Regions string
	MapData         *mapData
}

// maxRegionMapPoints bounds a region page's map data (the newest flagged first).
const maxRegionMapPoints = 5000

// inRegions returns the configured regions a changeset is in: those its labels matched in
// (e.Regions) and those its bounding box meets.
func (p *publisher) inRegions(e *Entry) []string {
	if len(p.regions) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, g := range e.Regions {
		if p.regions.Get(g) != nil {
			seen[g] = true
		}
	}
	if e.BBox != nil {
		b := orb.Bound{Min: orb.Point{e.BBox[0], e.BBox[1]}, Max: orb.Point{e.BBox[2], e.BBox[3]}}
		for _, r := range p.regions {
			if r.IntersectsBound(b) {
				seen[r.Name] = true
			}
		}
	}
	return sortedKeys(seen)
}

// renderRegionPages writes a page per configured region: its outline and changesets on a map,
// then its changesets, those with a reason to look (most severe first) before the others
// (newest first), and a link to the review queue filtered by the region. It returns the links
// for the index.
func (p *publisher) renderRegionPages(all []*Entry, feeds []feedLink) ([]dayLink, error) {
	var links []dayLink
	for _, r := range p.regions {
		name := r.Name
		var flagged, clean []*Entry
		sev := map[int64]int{}
		isFlagged := map[int64]bool{}
		for _, e := range all {
			if !contains(e.InRegions, name) {
				continue
			}
			if s, in := severity(e); in {
				sev[e.ID] = s
				isFlagged[e.ID] = true
				flagged = append(flagged, e)
			} else {
				clean = append(clean, e)
			}
		}
		sort.SliceStable(flagged, func(i, j int) bool { return sev[flagged[i].ID] > sev[flagged[j].ID] })
		es := append(flagged, clean...)
		b := r.Bound()
		m := &regionMap{Bounds: fmt.Sprintf("%.6f,%.6f,%.6f,%.6f", b.Min[1], b.Min[0], b.Max[1], b.Max[0]), Regions: p.regionsHref(),
			MapData: &mapData{Type: "FeatureCollection", Features: []mapFeature{}}}
		for _, e := range es {
			if e.BBox == nil || len(m.MapData.Features) >= maxRegionMapPoints {
				continue
			}
			bb := *e.BBox
			pr := mapProps{C: "cs", ID: e.ID, T: truncate(fmt.Sprintf("by %s: %s", orUnknown(e.User), e.Comment), 200), R: isFlagged[e.ID]}
			m.MapData.Features = append(m.MapData.Features, mapFeature{Type: "Feature",
				Geometry: json.RawMessage(fmt.Sprintf(`{"type":"Point","coordinates":[%.6f,%.6f]}`, (bb[0]+bb[2])/2, (bb[1]+bb[3])/2)), Properties: pr})
		}
		intro := fmt.Sprintf("%d changesets in the last %d days in this region, %d with a reason to look (listed first, most severe first; red on the map).", len(es), p.pc.Days, len(flagged))
		if err := p.listPages("region", es, func(n int) string { return regionPage(name, n) }, "Region: "+isolate(truncate(name, 200)), feeds, intro,
			[]linkView{{Text: "Review queue filtered by this region", Href: reviewHref("region", name), Local: true}}, listTop{rmap: m}); err != nil {
			return nil, err
		}
		links = append(links, dayLink{Day: name, Href: regionFile(name), N: len(es)})
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Day < links[j].Day })
	return links, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
