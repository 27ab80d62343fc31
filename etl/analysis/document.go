// Package analysis builds the analysis document of one changeset: counts, per-element tag and
// geometry diffs, tag summary, lengths by key=value, other users, the reasons a reviewer should
// look (each with evidence), and a GeoJSON of what changed. The document is stored in PostGIS
// (analyses.doc), rendered by publish and printed by `osmtrack analyse-file`; its JSON Schema is
// schema/analysis.schema.json. Field names are fixed: add fields, never rename.
package analysis

import (
	"time"

	"github.com/paulmach/orb/geojson"

	"github.com/osmtrack/osmtrack/etl/rules"
)

// SchemaVersion is the version of the document layout written in Document.SchemaVersion.
const SchemaVersion = 1

// Document is the analysis of one changeset.
type Document struct {
	SchemaVersion int        `json:"schema_version"`
	Changeset     Changeset  `json:"changeset"`
	Counts        Counts     `json:"counts"`
	Elements      []Element  `json:"elements"`
	TagSummary    TagSummary `json:"tag_summary"`
	// LengthM maps "key=value" (highway=residential, waterway=river, …) to metres created,
	// deleted and the length change of modified ways.
	LengthM    map[string]Length `json:"length_m"`
	OtherUsers []OtherUser       `json:"other_users"`
	Reasons    []Reason          `json:"reasons"`
	// Geometry holds created, deleted and modified (before and after) elements; each feature has
	// properties action, type, id, version, state ("before"|"after").
	Geometry *geojson.FeatureCollection `json:"geometry"`
	// Complete is false when some before-state was unavailable; Incomplete says why.
	Complete   bool   `json:"complete"`
	Incomplete string `json:"incomplete,omitempty"`
	// AnalysedAt is when the document was built (UTC).
	AnalysedAt time.Time `json:"analysed_at"`
	// Missing counts previous versions (or way nodes) that neither the store nor the API had.
	Missing int `json:"missing,omitempty"`

	// labels are the analysis-time rule labels (written to changeset_labels, not to doc).
	labels []rules.Label
}

// Labels returns the analysis-time rule labels the step evaluated (none outside the step).
func (d *Document) Labels() []rules.Label { return d.labels }

// Changeset is the changeset's metadata.
type Changeset struct {
	ID            int64             `json:"id"`
	User          string            `json:"user"`
	UID           int64             `json:"uid"`
	CreatedAt     *time.Time        `json:"created_at"`
	ClosedAt      *time.Time        `json:"closed_at"`
	Open          bool              `json:"open"`
	CommentsCount int               `json:"comments_count"`
	ChangesCount  int               `json:"changes_count"`
	Tags          map[string]string `json:"tags"`
	// BBox is [min_lon, min_lat, max_lon, max_lat], or null when the changeset has none.
	BBox     *[4]float64 `json:"bbox"`
	Editor   string      `json:"editor"`
	Hashtags []string    `json:"hashtags"`
	Comment  string      `json:"comment,omitempty"`
}

// TypeCounts counts element versions of each type.
type TypeCounts struct {
	Node     int `json:"node"`
	Way      int `json:"way"`
	Relation int `json:"relation"`
}

// Sum is node + way + relation.
func (t TypeCounts) Sum() int { return t.Node + t.Way + t.Relation }

// Counts counts the element versions of the changeset per action and type (an element edited
// twice counts once per version, as OSMCha counts).
type Counts struct {
	Create TypeCounts `json:"create"`
	Modify TypeCounts `json:"modify"`
	Delete TypeCounts `json:"delete"`
	Total  int        `json:"total"`
}

// Element is one changed element version.
type Element struct {
	Type    string `json:"type"` // node, way, relation
	ID      int64  `json:"id"`
	Version int    `json:"version"`
	Action  string `json:"action"` // create, modify, delete
	// Tags are the element's tags after the change (before it, for a deletion).
	Tags        map[string]string    `json:"tags,omitempty"`
	TagsAdded   map[string]string    `json:"tags_added"`
	TagsRemoved map[string]string    `json:"tags_removed"`
	TagsChanged map[string][2]string `json:"tags_changed"`
	// MovedM is how far a node moved, in metres (nodes with a known before-state only).
	MovedM *float64 `json:"moved_m,omitempty"`
	// NodesAdded / NodesRemoved count node references added to and removed from a way.
	NodesAdded   *int `json:"nodes_added,omitempty"`
	NodesRemoved *int `json:"nodes_removed,omitempty"`
	// MembersAdded / MembersRemoved count relation members; MembersReordered is true when the
	// members kept are in another order.
	MembersAdded     *int  `json:"members_added,omitempty"`
	MembersRemoved   *int  `json:"members_removed,omitempty"`
	MembersReordered *bool `json:"members_reordered,omitempty"`
	// PrevUser is the user of the previous version (modify and delete), PrevVersion its version.
	PrevUser    string `json:"prev_user,omitempty"`
	PrevUID     int64  `json:"prev_uid,omitempty"`
	PrevVersion int    `json:"prev_version,omitempty"`
	// PrevSource is where the previous version (its location, tags, nodes) came from: diff (a
	// minutely diff), seed (an extract), api (the OSM API) or download (a changeset download).
	PrevSource string `json:"prev_source,omitempty"`
	// Label is what a person reads: `highway=residential "Main Street"`, else `node 123`.
	Label string `json:"label"`
	// LengthM is the way's length after the change (before it, for a deletion), when known.
	LengthM *float64 `json:"length_m,omitempty"`
	// BeforeMissing is true when the previous version (or some of a way's nodes) was unavailable.
	BeforeMissing bool `json:"before_missing,omitempty"`
}

// TagSummary counts tag changes over all elements (created and deleted ones too).
type TagSummary struct {
	// Added maps "k=v" to how many elements gained it.
	Added map[string]int `json:"added"`
	// Removed maps "k=v" to how many elements lost it.
	Removed map[string]int `json:"removed"`
	// Changed maps "k: old → new" to how many elements had that value change.
	Changed map[string]int `json:"changed"`
}

// Length is metres of one key=value: created, deleted, and the change of modified ways.
type Length struct {
	Created  float64 `json:"created"`
	Deleted  float64 `json:"deleted"`
	Modified float64 `json:"modified"`
}

// OtherUser is a user whose elements this changeset modified or deleted.
type OtherUser struct {
	User     string `json:"user"`
	UID      int64  `json:"uid"`
	Modified int    `json:"modified"`
	Deleted  int    `json:"deleted"`
	Count    int    `json:"count"`
}

// Reason is one explained flag.
type Reason struct {
	Code     string         `json:"code"`
	Text     string         `json:"text"`
	Evidence map[string]any `json:"evidence"`
	// Element names the element the reason is about (per-element reasons only).
	Element *ElementRef `json:"element,omitempty"`
}

// ElementRef names one element version.
type ElementRef struct {
	Type    string `json:"type"`
	ID      int64  `json:"id"`
	Version int    `json:"version,omitempty"`
}

// ReasonCodes returns the distinct reason codes, in the order they first appear.
func (d *Document) ReasonCodes() []string {
	seen := map[string]bool{}
	out := []string{}
	for _, r := range d.Reasons {
		if !seen[r.Code] {
			seen[r.Code] = true
			out = append(out, r.Code)
		}
	}
	return out
}
