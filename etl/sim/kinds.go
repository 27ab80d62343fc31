package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Edit kinds of region-world changesets with their weights. The reviewer cases are rare but every
// one of them is also forced at least once in any run of len(kindWeights) minutes or more.
var kindWeights = []struct {
	kind   string
	weight float64
}{
	{"building", 20}, {"road_add", 6}, {"road_extend", 5}, {"road_split", 3}, {"retag", 12},
	{"move_nodes", 6}, {"address", 12}, {"poi", 14}, {"delete", 5}, {"relation_edit", 4},
	{"bot_retag", 1},
	{"import", 0.1}, {"mass_delete", 0.1}, {"mass_modify", 0.1}, {"no_editor", 0.4},
	{"vandal_words", 0.4}, {"vandal_major_delete", 0.2}, {"vandal_drag", 0.2},
	{"new_mapper", 5}, {"review_requested", 3}, {"warnings", 3}, {"hashtags", 4},
	{"long_open", 0.2}, {"same_element_twice", 1}, {"large_building", 0.2}, {"long_name", 0.4},
	{"place_rename", 0.2}, {"outside", 4},
}

// Kinds lists every edit kind of the region world.
func Kinds() []string {
	var ks []string
	for _, k := range kindWeights {
		ks = append(ks, k.kind)
	}
	return ks
}

// forcedKinds spreads one of each kind over the run.
func forcedKinds(minutes int) map[int][]string {
	f := map[int][]string{}
	n := len(kindWeights)
	for i, k := range kindWeights {
		m := int((float64(i) + 0.5) * float64(minutes) / float64(n))
		if k.kind == "long_open" { // early, so that it stays open across many minutes
			m = min(minutes-1, 1)
		}
		f[m] = append(f[m], k.kind)
	}
	return f
}

func (g *gen) drawKind() string {
	total := 0.0
	for _, k := range kindWeights {
		total += k.weight
	}
	x := g.r.Float64() * total
	for _, k := range kindWeights {
		x -= k.weight
		if x < 0 {
			return k.kind
		}
	}
	return kindWeights[0].kind
}

var comments = map[string][]string{
	"building":      {"Added buildings", "buildings from aerial imagery", "Gebäude ergänzt"},
	"road_add":      {"Added service road", "new footway", "added track"},
	"road_extend":   {"extended road", "road continues"},
	"road_split":    {"split road for speed limit", "Split way"},
	"retag":         {"fixed tags", "added surface", "maxspeed"},
	"move_nodes":    {"aligned to imagery", "fixed geometry"},
	"address":       {"Added address", "Hausnummern ergänzt", "fixed housenumber"},
	"poi":           {"Added café", "updated opening hours", "new shop"},
	"delete":        {"removed closed shop", "deleted demolished building"},
	"relation_edit": {"fixed bus route", "route updated", "multipolygon fix"},
}

// idWarnings are the changeset tags iD writes for the validation warnings a mapper uploaded
// despite (warnings:<validation>[:<subtype>] = count): every one the analysis knows. The first
// warnings changeset of a run carries all of them, later ones two each in turn.
var idWarnings = []string{
	"warnings:almost_junction:highway-highway", "warnings:close_nodes:detached", "warnings:disconnected_way:highway",
	"warnings:impossible_oneway:highway", "warnings:mismatched_geometry:area_as_line", "warnings:missing_role:multipolygon",
	"warnings:missing_tag:any", "warnings:outdated_tags:incomplete_tags", "warnings:private_data",
	"warnings:unsquare_way:building", "warnings:incompatible_source:google",
}

func (g *gen) regular() *mapper { return g.pop.pick(g.r, mRegular) }

func (g *gen) oneOf(ss []string) string { return ss[g.r.IntN(len(ss))] }

// runKind opens a changeset of the kind at time at, makes its edits and closes it.
func (g *gen) runKind(kind string, at int64) {
	up := at + 2 // upload a couple of seconds after opening
	m := g.regular()
	var extra []tag
	comment := ""
	if cs, ok := comments[kind]; ok {
		comment = g.oneOf(cs)
	}
	edit := kind
	switch kind {
	case "import":
		m = g.pop.pick(g.r, mImporter)
		comment = fmt.Sprintf("Import of building footprints from the %s cadastre (import plan: wiki/Import/Simstadt)", g.w.cityName)
		extra = []tag{{"import", "yes"}, {"source", "Simstadt cadastre 2025"}}
	case "mass_delete":
		comment = "cleanup of wrong buildings"
	case "vandal_words", "vandal_major_delete", "vandal_drag":
		m = g.pop.pick(g.r, mVandal)
		comment = g.oneOf([]string{"lol fuck this map", "haha deleted your stupid roads", "test test asdf", "shit map, fixed it lol"})
	case "new_mapper":
		m = g.pop.pick(g.r, mNew)
		edit = g.oneOf([]string{"building", "poi", "address"})
		comment = "my first edit"
	case "review_requested":
		m = g.pickEditorMapper(edID)
		edit = g.oneOf([]string{"road_add", "building", "retag"})
		extra = []tag{{"review_requested", "yes"}}
		comment = "not sure about this, please review"
	case "warnings":
		m = g.pickEditorMapper(edID)
		edit = "road_add"
		extra = []tag{{"warnings:crossing_ways", fmt.Sprint(1 + g.r.IntN(4))}, {"warnings:suspicious_name:generic_name", "1"}}
		if g.r.IntN(2) == 0 {
			extra = append(extra, tag{"warnings:almost_junction:highway-highway", "1"})
		}
		more := idWarnings
		if g.warnings > 0 {
			i := (2*g.warnings - 2) % len(idWarnings)
			more = []string{idWarnings[i], idWarnings[(i+1)%len(idWarnings)]}
		}
		g.warnings++
		for _, k := range more {
			extra = setTag(extra, k, "1")
		}
		comment = "added road"
	case "mass_modify":
		m = g.pickEditorMapper(edJOSM)
		comment = "Realigned the old town's buildings to the new aerial imagery (offset corrected)"
	case "no_editor":
		m = g.pop.pick(g.r, mScript)
		edit = "address"
		comment = "sync addresses with the municipal register"
	case "hashtags":
		m = g.pickEditorMapper(edID)
		edit = g.oneOf([]string{"building", "road_add"})
		comment = "mapping buildings #MissingMaps #hotosm-project-14237"
		extra = []tag{{"hashtags", "#MissingMaps;#hotosm-project-14237"}, {"source", "Maxar Premium Imagery"}}
	case "bot_retag":
		m = g.pop.pick(g.r, mBot)
		comment = "Mechanical edit: normalize maxspeed values (see wiki/Automated_edits/FixmeBot)"
		extra = []tag{{"mechanical", "yes"}}
	case "long_name":
		edit = "long_name"
		comment = "added name"
	case "place_rename":
		comment = "corrected name"
	case "large_building":
		comment = "added factory hall"
	case "outside":
		comment = "mapping on holiday"
	case "same_element_twice":
		comment = "fixed typo"
	case "long_open":
		m = g.pickEditorMapper(edJOSM)
		edit = "building"
		comment = "survey of the north: buildings and shops"
	}
	if comment != "" {
		extra = append(extra, tag{"comment", comment})
	}
	if m.kind == mRegular && m.editor != edID && m.editor != edSC && g.r.IntN(3) == 0 {
		extra = append(extra, tag{"source", g.oneOf([]string{"Bing", "survey", "Esri World Imagery"})})
	}
	cs := g.newChangeset(m, kind, at, extra)
	g.doEdit(cs, edit, up)
	switch kind {
	case "long_open":
		// Uploads every 15 minutes for three hours, closed after the last one.
		for k := 1; k <= 12; k++ {
			mm := g.minute + 15*k
			last := k == 12
			g.schedule(mm, func(g *gen, t0 int64) {
				u := t0 + 10 + int64(g.r.IntN(30))
				g.doEdit(cs, g.oneOf([]string{"building", "poi", "address"}), u)
				if last {
					g.closeChangeset(cs, u+3)
				}
			})
		}
		return
	case "same_element_twice":
		// A second mapper edits the same element again within the minute.
		if len(g.evs) > 0 {
			last := g.evs[len(g.evs)-1]
			if last.typ == 'n' && last.act != 'd' {
				if n := g.w.nodes[last.id]; n != nil && n.visible {
					cs2 := g.newChangeset(g.regular(), kind, up+1, []tag{{"comment", "fixed name again"}})
					n.tags = setTag(n.tags, "name", tagValue(n.tags, "name")+" (2)")
					g.modNode(cs2, up+3, n)
					g.closeChangeset(cs2, up+4)
				}
			}
		}
	case "vandal_words", "vandal_major_delete", "vandal_drag", "import", "mass_delete":
		rev := g.pop.pick(g.r, mReviewer)
		g.schedule(g.minute+2+g.r.IntN(5), func(g *gen, t0 int64) {
			g.addComment(cs, rev, t0+5+int64(g.r.IntN(40)), "Hi, this looks wrong. Please revert & read <https://wiki.openstreetmap.org/wiki/Good_practice> \"before\" editing.")
		})
	}
	if g.r.IntN(40) == 0 {
		rev := g.pop.pick(g.r, mReviewer)
		g.schedule(g.minute+1+g.r.IntN(30), func(g *gen, t0 int64) {
			g.addComment(cs, rev, t0+int64(g.r.IntN(50)), "Thanks! Welcome to OSM 🎉")
		})
	}
	g.closeChangeset(cs, min(up+2+int64(g.r.IntN(6)), g.t0()+59))
}

func (g *gen) pickEditorMapper(editor string) *mapper {
	l := g.pop.byKind[mRegular]
	for k := 0; k < 50; k++ {
		m := l[g.r.IntN(len(l))]
		if m.editor == editor {
			return m
		}
	}
	return l[0]
}

// Picking live elements.

func (g *gen) pickWay(ids []int64, ok func(*way) bool) *way {
	if len(ids) == 0 {
		return nil
	}
	for k := 0; k < 40; k++ {
		x := g.w.ways[ids[g.r.IntN(len(ids))]]
		if x != nil && x.visible && (ok == nil || ok(x)) {
			return x
		}
	}
	return nil
}

func (g *gen) pickNode(ids []int64, ok func(*node) bool) *node {
	if len(ids) == 0 {
		return nil
	}
	for k := 0; k < 40; k++ {
		x := g.w.nodes[ids[g.r.IntN(len(ids))]]
		if x != nil && x.visible && (ok == nil || ok(x)) {
			return x
		}
	}
	return nil
}

// randPos draws a point in the region (inside the polygon).
func (g *gen) randPos() (float64, float64) {
	w := g.w
	for {
		lat := w.minLat + g.r.Float64()*(w.maxLat-w.minLat)
		lon := w.minLon + g.r.Float64()*(w.maxLon-w.minLon)
		if w.inside(lat, lon) {
			return lat, lon
		}
	}
}

// building draws a rectangle of size metres around lat, lon.
func (g *gen) building(cs *changeset, at int64, lat, lon, sx, sy float64, tags []tag) *way {
	w := g.w
	dl, do := w.dLat(sy/2), w.dLon(sx/2)
	a := g.newNode(cs, at, lat-dl, lon-do, nil)
	b := g.newNode(cs, at, lat-dl, lon+do, nil)
	c := g.newNode(cs, at, lat+dl, lon+do, nil)
	d := g.newNode(cs, at, lat+dl, lon-do, nil)
	x := g.newWay(cs, at, []int64{a.id, b.id, c.id, d.id, a.id}, tags)
	w.buildings = append(w.buildings, x.id)
	return x
}

func (g *gen) deleteBuilding(cs *changeset, at int64, x *way) {
	g.delWay(cs, at, x)
	seen := map[int64]bool{}
	for _, id := range x.nodes {
		if seen[id] {
			continue
		}
		seen[id] = true
		if n := g.w.nodes[id]; n != nil && n.visible && g.w.nodeRefs[id] == 0 {
			g.delNode(cs, at, n)
		}
	}
}

var poiTags = [][2]string{{"amenity", "cafe"}, {"shop", "convenience"}, {"amenity", "fast_food"}, {"shop", "florist"},
	{"amenity", "bench"}, {"amenity", "post_box"}, {"shop", "kiosk"}, {"amenity", "bicycle_parking"}}

func (g *gen) doEdit(cs *changeset, kind string, at int64) {
	w := g.w
	switch kind {
	case "building", "import", "large_building":
		n, size := 1+g.r.IntN(4), 8.0+g.r.Float64()*14
		lat, lon := g.randPos()
		if kind == "import" {
			n = 260 + g.r.IntN(60) // 5 elements each: well over 1,000 creates
		}
		for i := 0; i < n; i++ {
			tags := []tag{{"building", g.oneOf([]string{"yes", "house", "garage", "shed", "residential"})}}
			if kind == "import" {
				tags = append(tags, tag{"addr:housenumber", fmt.Sprint(i + 1)}, tag{"addr:street", w.street[i%len(w.street)]}, tag{"ref:cadastre", fmt.Sprintf("SIM-%06d", g.nextWay%1000000)})
			}
			if kind == "large_building" {
				// About 800 m x 750 m: 600,000 m².
				tags = []tag{{"building", "industrial"}, {"name", "Simstadt Logistikzentrum"}}
				blat, blon := w.lat0+w.dLat(-1400), w.lon0
				if !w.inside(blat, blon) { // a real extract's region may be smaller than the town's
					blat, blon = w.lat0, w.lon0
				}
				g.building(cs, at, blat, blon, 800, 750, sortTags(tags))
				return
			}
			g.building(cs, at, lat+w.dLat(float64(i/20)*25), lon+w.dLon(float64(i%20)*25), size, size*0.8, sortTags(tags))
		}
	case "road_add":
		from := g.pickWay(w.streets, func(x *way) bool { return len(x.nodes) > 2 })
		if from == nil {
			g.doEdit(cs, "poi", at)
			return
		}
		start := w.nodes[from.nodes[g.r.IntN(len(from.nodes))]]
		ids := []int64{start.id}
		lat, lon := deg(start.lat), deg(start.lon)
		dir := g.r.Float64() * 2 * math.Pi
		for k := 1; k <= 3+g.r.IntN(4); k++ {
			lat += w.dLat(30 * math.Sin(dir))
			lon += w.dLon(30 * math.Cos(dir))
			ids = append(ids, g.newNode(cs, at, lat, lon, nil).id)
		}
		tags := []tag{{"highway", g.oneOf([]string{"service", "footway", "residential", "track"})}}
		x := g.newWay(cs, at, ids, tags)
		w.streets = append(w.streets, x.id)
	case "road_extend":
		x := g.pickWay(w.streets, func(x *way) bool { return len(x.nodes) >= 2 && x.nodes[0] != x.nodes[len(x.nodes)-1] })
		if x == nil {
			return
		}
		a, b := w.nodes[x.nodes[len(x.nodes)-2]], w.nodes[x.nodes[len(x.nodes)-1]]
		dlat, dlon := deg(b.lat)-deg(a.lat), deg(b.lon)-deg(a.lon)
		ids := slices.Clone(x.nodes)
		lat, lon := deg(b.lat), deg(b.lon)
		for k := 0; k < 2+g.r.IntN(3); k++ {
			lat, lon = lat+dlat*0.3, lon+dlon*0.3
			ids = append(ids, g.newNode(cs, at, lat, lon, nil).id)
		}
		g.modWay(cs, at, x, ids, x.tags)
	case "road_split":
		x := g.pickWay(w.streets, func(x *way) bool { return len(x.nodes) >= 3 && x.nodes[0] != x.nodes[len(x.nodes)-1] })
		if x == nil {
			return
		}
		k := 1 + g.r.IntN(len(x.nodes)-2)
		first, second := slices.Clone(x.nodes[:k+1]), slices.Clone(x.nodes[k:])
		tags := setTag(x.tags, "maxspeed", g.oneOf([]string{"30", "50"}))
		nw := g.newWay(cs, at, second, tags)
		g.modWay(cs, at, x, first, x.tags)
		w.streets = append(w.streets, nw.id)
		if w.wayRels[x.id] > 0 {
			for _, rid := range w.routes {
				r := w.rels[rid]
				if r == nil || !r.visible {
					continue
				}
				if i := slices.IndexFunc(r.members, func(m member) bool { return m.typ == 'w' && m.ref == x.id }); i >= 0 {
					ms := slices.Insert(slices.Clone(r.members), i+1, member{'w', nw.id, ""})
					g.modRel(cs, at, r, ms, r.tags)
				}
			}
		}
	case "retag", "bot_retag":
		for k := 0; k < 1+g.r.IntN(3); k++ {
			if g.r.IntN(2) == 0 {
				if x := g.pickWay(w.streets, nil); x != nil {
					g.modWay(cs, at, x, nil, setTag(x.tags, g.oneOf([]string{"surface", "maxspeed", "lit", "sidewalk"}), g.oneOf([]string{"asphalt", "30", "yes", "both"})))
				}
			} else if n := g.pickNode(w.pois, nil); n != nil {
				n.tags = setTag(n.tags, "opening_hours", g.oneOf([]string{"Mo-Fr 08:00-18:00", "24/7", "Mo-Sa 09:00-20:00"}))
				g.modNode(cs, at, n)
			}
		}
	case "move_nodes":
		x := g.pickWay(w.buildings, nil)
		if x == nil {
			return
		}
		seen := map[int64]bool{}
		for _, id := range x.nodes {
			if seen[id] || g.r.IntN(2) == 0 {
				continue
			}
			seen[id] = true
			n := w.nodes[id]
			dlat := int32(g.r.IntN(41) - 20)
			g.moveNode(cs, at, n, dlat, int32(g.r.IntN(41)-20))
		}
	case "address":
		for k := 0; k < 1+g.r.IntN(4); k++ {
			x := g.pickWay(w.buildings, nil)
			if x == nil {
				return
			}
			tags := setTag(x.tags, "addr:housenumber", fmt.Sprint(1+g.r.IntN(120)))
			tags = setTag(tags, "addr:street", w.street[g.r.IntN(len(w.street))])
			tags = setTag(tags, "addr:city", w.cityName)
			g.modWay(cs, at, x, nil, sortTags(tags))
		}
	case "poi", "long_name":
		if kind == "poi" && g.r.IntN(3) == 0 {
			if n := g.pickNode(w.pois, nil); n != nil {
				n.tags = setTag(n.tags, "phone", fmt.Sprintf("+49 3621 %06d", g.r.IntN(1000000)))
				g.modNode(cs, at, n)
				return
			}
		}
		lat, lon := g.randPos()
		pt := poiTags[g.r.IntN(len(poiTags))]
		name := g.oneOf([]string{"Café Müller", "Zum Goldenen Hirsch", "Bäckerei & Konditorei \"Süß\"", "Kiosk <24h>", "Döner 2/Go"})
		if kind == "long_name" {
			name = "Freiwillige Feuerwehr Simstadt Löschzug Nord und Verein zur Förderung der Brandbekämpfung und Jugendarbeit e.V."
			pt = [2]string{"amenity", "fire_station"}
		}
		n := g.newNode(cs, at, lat, lon, sortTags([]tag{{pt[0], pt[1]}, {"name", name}}))
		w.pois = append(w.pois, n.id)
	case "delete":
		if g.r.IntN(2) == 0 {
			if n := g.pickNode(w.pois, func(n *node) bool { return w.nodeRefs[n.id] == 0 }); n != nil {
				g.delNode(cs, at, n)
				return
			}
		}
		if x := g.pickWay(w.buildings, func(x *way) bool { return w.wayRels[x.id] == 0 }); x != nil {
			g.deleteBuilding(cs, at, x)
		}
	case "mass_delete":
		n := 0
		for _, id := range slices.Clone(w.buildings) {
			x := w.ways[id]
			if x == nil || !x.visible || w.wayRels[id] > 0 || g.r.IntN(3) != 0 {
				continue
			}
			g.deleteBuilding(cs, at, x)
			if n++; n >= 160 {
				break
			}
		}
	case "mass_modify":
		// Buildings realigned to new imagery: every corner of building after building shifted by
		// the same offset (1-3 m), well over 200 nodes modified and nothing else. The nodes carry
		// their positions, so a pipeline that never saw the buildings still places the edit.
		off := func() int32 {
			d := int32(90 + g.r.IntN(180)) // 1e-7 degrees
			if g.r.IntN(2) == 0 {
				d = -d
			}
			return d
		}
		dlat, dlon := off(), off()
		seen := map[int64]bool{}
		for _, id := range w.buildings {
			x := w.ways[id]
			if x == nil || !x.visible || g.r.IntN(4) == 0 {
				continue
			}
			for _, nid := range x.nodes {
				n := w.nodes[nid]
				if seen[nid] || n == nil || !n.visible {
					continue
				}
				seen[nid] = true
				g.moveNode(cs, at, n, dlat, dlon)
			}
			if len(seen) >= 240 {
				break
			}
		}
	case "relation_edit":
		ids := append(slices.Clone(w.routes), w.multipolys...)
		if len(ids) == 0 {
			return
		}
		r := w.rels[ids[g.r.IntN(len(ids))]]
		if r == nil || !r.visible {
			return
		}
		ms := slices.Clone(r.members)
		switch op := g.r.IntN(3); {
		case op == 0 || len(ms) < 2: // add a street
			if x := g.pickWay(w.streets, nil); x != nil {
				ms = append(ms, member{'w', x.id, ""})
			}
		case op == 1 && tagValue(r.tags, "type") == "route": // remove
			ms = slices.Delete(ms, len(ms)-1, len(ms))
		default: // reorder
			i, j := g.r.IntN(len(ms)), g.r.IntN(len(ms))
			ms[i], ms[j] = ms[j], ms[i]
		}
		g.modRel(cs, at, r, ms, r.tags)
	case "vandal_words":
		if n := g.pickNode(w.pois, nil); n != nil {
			n.tags = setTag(n.tags, "name", "LOL fuck you")
			g.modNode(cs, at, n)
		}
	case "vandal_major_delete":
		x := g.pickWay(w.majors, nil)
		if x == nil {
			return
		}
		// A relation holding the road loses it first (the API refuses otherwise).
		for _, rid := range sortedKeys(w.rels) {
			r := w.rels[rid]
			if !r.visible || w.wayRels[x.id] == 0 {
				continue
			}
			if slices.ContainsFunc(r.members, func(m member) bool { return m.typ == 'w' && m.ref == x.id }) {
				ms := slices.DeleteFunc(slices.Clone(r.members), func(m member) bool { return m.typ == 'w' && m.ref == x.id })
				g.modRel(cs, at, r, ms, r.tags)
			}
		}
		g.deleteBuilding(cs, at, x) // the way and its nodes no other way uses
	case "vandal_drag":
		// Preferably a road mapped during the simulation: a pipeline that follows the feed holds
		// its nodes, and so knows where a node dragged out of its region came from (a node of
		// the base world dragged out of the region is, to such a pipeline, an edit elsewhere).
		isNew := func(id int64) bool { return id >= firstNewNode }
		var x *way
		if k := slices.IndexFunc(w.streets, func(id int64) bool { return id >= firstNewWay }); k >= 0 {
			x = g.pickWay(w.streets[k:], func(x *way) bool { return slices.ContainsFunc(x.nodes, isNew) })
		}
		if x == nil {
			x = g.pickWay(w.majors, nil)
		}
		if x == nil {
			x = g.pickWay(w.streets, nil)
		}
		if x == nil {
			return
		}
		newRoad := slices.ContainsFunc(x.nodes, isNew)
		moved := map[int64]bool{}
		for _, id := range x.nodes {
			if len(moved) == 3 {
				break
			}
			if moved[id] || (newRoad && !isNew(id)) {
				continue
			}
			moved[id] = true
			n := w.nodes[id]
			dlat := fix(0.12 + 0.05*g.r.Float64()) // 13-19 km north
			g.moveNode(cs, at, n, dlat, fix(0.05*g.r.Float64()))
		}
	case "place_rename":
		if n := g.pickNode(w.places[:1], nil); n != nil {
			old := tagValue(n.tags, "name")
			nm := "Neu-" + old
			if strings.HasPrefix(old, "Neu-") {
				nm = strings.TrimPrefix(old, "Neu-")
			}
			n.tags = setTag(n.tags, "name", nm)
			g.modNode(cs, at, n)
		}
	case "outside":
		// About 35 km east of the region.
		lat, lon := w.lat0+w.dLat(float64(g.r.IntN(2000))), w.lon0+w.dLon(35000+float64(g.r.IntN(3000)))
		if g.r.IntN(2) == 0 {
			g.building(cs, at, lat, lon, 12, 10, []tag{{"building", "yes"}})
		} else {
			g.newNode(cs, at, lat, lon, []tag{{"amenity", "bench"}})
		}
	case "same_element_twice":
		if n := g.pickNode(w.pois, nil); n != nil {
			n.tags = setTag(n.tags, "name", strings.TrimSuffix(tagValue(n.tags, "name"), " (2)")+" ")
			n.tags = setTag(n.tags, "name", strings.TrimSpace(tagValue(n.tags, "name")))
			n.tags = setTag(n.tags, "check_date", "2026-01-01")
			g.modNode(cs, at, n)
		}
	default:
		panic("sim: unknown edit " + kind)
	}
}
