package rules

import (
	"bufio"
	"compress/gzip"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/paulmach/orb"
	"github.com/paulmach/osm"
)

// ReadFiles builds changesets for offline rule tests from changeset files (changeset
// replication files or API changeset metadata: <osm><changeset …>) and osmChange files
// (minutely diffs or changeset downloads), each optionally gzipped. Elements are grouped by
// changeset; an element's earlier version found in the files becomes its Old version; a way's
// nodes whose locations appear in the files become EditPoints. Changesets are sorted by id.
func ReadFiles(changesetFiles, oscFiles []string) ([]*Changeset, error) {
	byID := map[int64]*Changeset{}
	get := func(id int64) *Changeset {
		cs := byID[id]
		if cs == nil {
			cs = &Changeset{ID: id, Tags: map[string]string{}}
			byID[id] = cs
		}
		return cs
	}
	for _, f := range changesetFiles {
		var doc osm.OSM
		if err := decodeXMLFile(f, &doc); err != nil {
			return nil, err
		}
		for _, c := range doc.Changesets {
			cs := get(int64(c.ID))
			fillMeta(cs, c)
		}
	}

	type elemKey struct {
		typ string
		id  int64
	}
	type version struct {
		el      Element
		cs      int64
		nodes   []int64
		visible bool
	}
	versions := map[elemKey][]version{}
	nodePos := map[int64]orb.Point{}
	for _, f := range oscFiles {
		var ch osm.Change
		if err := decodeXMLFile(f, &ch); err != nil {
			return nil, err
		}
		for _, part := range []struct {
			action string
			o      *osm.OSM
		}{{"create", ch.Create}, {"modify", ch.Modify}, {"delete", ch.Delete}} {
			if part.o == nil {
				continue
			}
			for _, n := range part.o.Nodes {
				el := Element{Type: "node", ID: int64(n.ID), Version: n.Version, Action: part.action, Tags: n.Tags.Map()}
				if part.action != "delete" || n.Lat != 0 || n.Lon != 0 {
					p := orb.Point{n.Lon, n.Lat}
					el.Point = &p
					nodePos[int64(n.ID)] = p
				}
				k := elemKey{"node", int64(n.ID)}
				versions[k] = append(versions[k], version{el: el, cs: int64(n.ChangesetID)})
			}
			for _, w := range part.o.Ways {
				el := Element{Type: "way", ID: int64(w.ID), Version: w.Version, Action: part.action, Tags: w.Tags.Map()}
				ids := make([]int64, len(w.Nodes))
				for i, wn := range w.Nodes {
					ids[i] = int64(wn.ID)
				}
				k := elemKey{"way", int64(w.ID)}
				versions[k] = append(versions[k], version{el: el, cs: int64(w.ChangesetID), nodes: ids})
			}
			for _, r := range part.o.Relations {
				el := Element{Type: "relation", ID: int64(r.ID), Version: r.Version, Action: part.action, Tags: r.Tags.Map()}
				k := elemKey{"relation", int64(r.ID)}
				versions[k] = append(versions[k], version{el: el, cs: int64(r.ChangesetID)})
			}
		}
	}
	keys := make([]elemKey, 0, len(versions))
	for k := range versions {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].typ != keys[j].typ {
			return keys[i].typ < keys[j].typ
		}
		return keys[i].id < keys[j].id
	})
	seenPoint := map[int64]map[int64]bool{} // changeset -> node ids already an edit location
	for _, k := range keys {
		vs := versions[k]
		sort.SliceStable(vs, func(i, j int) bool { return vs[i].el.Version < vs[j].el.Version })
		for i := range vs {
			v := vs[i]
			if i > 0 && vs[i-1].el.Version == v.el.Version {
				continue // the same version in two files
			}
			if i > 0 {
				prev := vs[i-1].el
				v.el.Old = &Version{Version: prev.Version, Tags: prev.Tags, Point: prev.Point}
				if v.el.Action == "delete" && v.el.Point == nil {
					v.el.Point = prev.Point
				}
			}
			cs := get(v.cs)
			cs.Elements = append(cs.Elements, v.el)
			if k.typ == "node" {
				if seenPoint[v.cs] == nil {
					seenPoint[v.cs] = map[int64]bool{}
				}
				seenPoint[v.cs][k.id] = true
			}
		}
	}
	// Way nodes not edited in the changeset but located by the files.
	for _, k := range keys {
		if k.typ != "way" {
			continue
		}
		for _, v := range versions[k] {
			cs := byID[v.cs]
			for _, nid := range v.nodes {
				p, ok := nodePos[nid]
				if !ok || seenPoint[v.cs][nid] {
					continue
				}
				if seenPoint[v.cs] == nil {
					seenPoint[v.cs] = map[int64]bool{}
				}
				seenPoint[v.cs][nid] = true
				cs.EditPoints = append(cs.EditPoints, EditPoint{Point: p, Ref: fmt.Sprintf("node/%d of way/%d", nid, k.id)})
			}
		}
	}
	out := make([]*Changeset, 0, len(byID))
	for _, cs := range byID {
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func fillMeta(cs *Changeset, c *osm.Changeset) {
	cs.MetadataKnown = true
	cs.User, cs.UID = c.User, int64(c.UserID)
	cs.CreatedAt, cs.ClosedAt, cs.Open = c.CreatedAt, c.ClosedAt, c.Open
	cs.CommentsCount, cs.ChangesCount = c.CommentsCount, c.ChangesCount
	cs.Tags = c.Tags.Map()
	if c.MinLat != 0 || c.MaxLat != 0 || c.MinLon != 0 || c.MaxLon != 0 {
		cs.BBox = &orb.Bound{Min: orb.Point{c.MinLon, c.MinLat}, Max: orb.Point{c.MaxLon, c.MaxLat}}
	}
}

func decodeXMLFile(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: gunzip: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	if err := xml.NewDecoder(r).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
