package analysis

import (
	"sort"
	"time"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/elements"
)

// build decides the document over values: the changeset's versions and what the state knows
// (previous versions, node positions), plus what the store and the API answered beyond them
// (f). It asks nobody.
func (s *state) build(meta Meta, elems []elements.Element, f facts) *Document {
	d := newDocument(meta, f.analysedAt)
	others := otherUsers{byUID: map[int64]*OtherUser{}}
	for i := range elems {
		e := &elems[i]
		prev := s.prevOf(e)
		d.Counts.count(e)
		el := s.element(e, prev)
		d.TagSummary.count(el)
		if prev != nil && prev.Changeset != s.csID && (prev.UID != meta.UID || (prev.UID == 0 && prev.User != meta.User)) {
			others.count(prev, e.Action)
		}
		d.Elements = append(d.Elements, el)
	}
	d.Counts.Total = d.Counts.Create.Sum() + d.Counts.Modify.Sum() + d.Counts.Delete.Sum()
	d.OtherUsers = others.list()

	changes := s.changes()
	d.Geometry = geometry(changes, s.nodesInWays())
	d.LengthM = lengths(changes, s.a.Config.LengthKeys)
	// Changeset-level reasons first (the changeset's own, then the user's), then per-element
	// ones in element order, dragged nodes last.
	rc := s.a.Config.Reasons
	d.Reasons = append(d.Reasons, changesetReasons(s.a.Config, meta, d.Counts)...)
	d.Reasons = append(d.Reasons, userReasons(rc, meta, f.user)...)
	for i := range changes {
		for _, r := range elementReasons {
			d.Reasons = append(d.Reasons, r.check(rc, &changes[i])...)
		}
	}
	d.Reasons = append(d.Reasons, s.draggedNodes(rc, f.drag)...)
	return d
}

// newDocument is the document of a changeset before its elements: metadata and empty lists.
func newDocument(meta Meta, now time.Time) *Document {
	d := &Document{SchemaVersion: SchemaVersion, AnalysedAt: now,
		Elements: []Element{}, LengthM: map[string]Length{}, OtherUsers: []OtherUser{}, Reasons: []Reason{},
		TagSummary: TagSummary{Added: map[string]int{}, Removed: map[string]int{}, Changed: map[string]int{}}}
	tags := meta.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	d.Changeset = Changeset{ID: meta.ID, User: meta.User, UID: meta.UID, CreatedAt: meta.CreatedAt, ClosedAt: meta.ClosedAt,
		Open: meta.Open, CommentsCount: meta.CommentsCount, ChangesCount: meta.ChangesCount, Tags: tags, BBox: meta.BBox,
		Editor: tags["created_by"], Hashtags: hashtags(meta), Comment: tags["comment"]}
	return d
}

// count counts one version by its action and type.
func (c *Counts) count(e *elements.Element) {
	tc := &c.Create
	switch e.Action {
	case elements.Modify:
		tc = &c.Modify
	case elements.Delete:
		tc = &c.Delete
	}
	switch e.Type {
	case 'n':
		tc.Node++
	case 'w':
		tc.Way++
	case 'r':
		tc.Relation++
	}
}

// count adds an element's tag changes.
func (t *TagSummary) count(el Element) {
	for k, v := range el.TagsAdded {
		t.Added[k+"="+v]++
	}
	for k, v := range el.TagsRemoved {
		t.Removed[k+"="+v]++
	}
	for k, v := range el.TagsChanged {
		t.Changed[k+": "+v[0]+" → "+v[1]]++
	}
}

// otherUsers counts the versions of other users the changeset modified or deleted.
type otherUsers struct {
	byUID map[int64]*OtherUser
	order []int64
}

func (o *otherUsers) count(prev *elements.Element, action elements.Action) {
	u := o.byUID[prev.UID]
	if u == nil {
		u = &OtherUser{User: prev.User, UID: prev.UID}
		o.byUID[prev.UID] = u
		o.order = append(o.order, prev.UID)
	}
	u.Count++
	if action == elements.Delete {
		u.Deleted++
	} else {
		u.Modified++
	}
}

// list is the users by count, most first (first seen first among equals).
func (o *otherUsers) list() []OtherUser {
	out := []OtherUser{}
	for _, uid := range o.order {
		out = append(out, *o.byUID[uid])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// element is the document's entry of one version: its tag diff against prev (the version
// before it, nil when unknown or created), what it did to nodes or members, its length.
func (s *state) element(e, prev *elements.Element) Element {
	el := Element{Type: TypeName(e.Type), ID: e.ID, Version: e.Version, Action: e.Action.String()}
	cur := e.Tags
	if e.Action == elements.Delete {
		cur = nil
	}
	switch {
	case e.Action == elements.Create:
		el.TagsAdded, el.TagsRemoved, el.TagsChanged = tagDiff(nil, cur)
	case prev != nil:
		el.TagsAdded, el.TagsRemoved, el.TagsChanged = tagDiff(prev.Tags, cur)
	default:
		el.TagsAdded, el.TagsRemoved, el.TagsChanged = map[string]string{}, map[string]string{}, map[string][2]string{}
		el.BeforeMissing = true
	}
	shown := cur
	if e.Action == elements.Delete && prev != nil {
		shown = prev.Tags
	}
	if len(shown) > 0 {
		el.Tags = tagMap(shown)
	}
	if prev != nil {
		el.PrevUser, el.PrevUID, el.PrevVersion, el.PrevSource = prev.User, prev.UID, prev.Version, prev.Source.String()
	}
	switch e.Type {
	case 'n':
		if e.Action == elements.Modify && prev != nil && prev.HasCoords && e.HasCoords {
			el.MovedM = ptr(round1(Haversine(orb.Point{prev.Lon, prev.Lat}, orb.Point{e.Lon, e.Lat})))
		}
	case 'w':
		s.wayElement(&el, e, prev)
	case 'r':
		switch {
		case e.Action == elements.Create:
			el.MembersAdded, el.MembersRemoved, el.MembersReordered = ptr(len(e.Members)), ptr(0), ptr(false)
		case prev == nil:
		case e.Action == elements.Delete:
			el.MembersAdded, el.MembersRemoved, el.MembersReordered = ptr(0), ptr(len(prev.Members)), ptr(false)
		default:
			a, r, ro := memberDiff(prev.Members, e.Members)
			el.MembersAdded, el.MembersRemoved, el.MembersReordered = ptr(a), ptr(r), ptr(ro)
		}
	}
	el.Label = Label(e.Type, e.ID, shown)
	return el
}

// wayElement fills a way's node references added and removed and, for the element's last
// version in the changeset, its length (before it, for a deletion).
func (s *state) wayElement(el *Element, e, prev *elements.Element) {
	var a, r int
	switch {
	case e.Action == elements.Create:
		a = len(e.Nodes)
	case prev == nil:
	case e.Action == elements.Delete:
		r = len(prev.Nodes)
	default:
		bc, ac := idCounts(prev.Nodes), idCounts(e.Nodes)
		for id, n := range ac {
			if dd := n - bc[id]; dd > 0 {
				a += dd
			}
		}
		for id, n := range bc {
			if dd := n - ac[id]; dd > 0 {
				r += dd
			}
		}
	}
	if e.Action == elements.Create || prev != nil {
		el.NodesAdded, el.NodesRemoved = ptr(a), ptr(r)
	}
	w := e
	isAfter := true
	if e.Action == elements.Delete {
		w, isAfter = prev, false
	}
	if w != nil && (e.Version == s.cs[e.Key()][len(s.cs[e.Key()])-1].Version) {
		ls, miss := s.wayLine(w, isAfter)
		if miss == 0 && len(ls) > 1 {
			el.LengthM = ptr(round1(LineLength(ls)))
		} else if miss > 0 {
			el.BeforeMissing = el.BeforeMissing || !isAfter
		}
	}
}
