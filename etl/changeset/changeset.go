// Package changeset is osmtrack's one changeset model: the metadata of a changeset (Meta) as
// the changeset replication feed, the OSM API and the changesets table have it, the one parser
// of changeset XML (Decode), and the one builder (Build) of the value every label rule sees
// (rules.Changeset) from the metadata and the changeset's element versions, their previous
// versions and the locations of what they edit, read from the element store. The filter step,
// the analyse step and `osmtrack rules test` (which loads its files into an in-memory element
// store) all build through it, so a rule answers the same wherever it runs.
package changeset

import (
	"time"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/rules"
)

// Meta is what is known of a changeset besides its element versions. Optional attributes are
// pointers (nil: absent): a changeset without edits has no bbox, an open one no closed_at,
// old replication files have no comments_count.
type Meta struct {
	ID int64
	// Known is false when only the diffs have been seen (no metadata yet): then every other
	// field but Counts is empty.
	Known         bool
	User          string
	UID           *int64
	CreatedAt     *time.Time
	ClosedAt      *time.Time
	Open          bool
	CommentsCount *int
	ChangesCount  *int // changes_count (API) or num_changes (replication)
	Bound         *orb.Bound
	// Tags are the changeset's tags (a key given twice keeps its first value).
	Tags map[string]string
	// Counts are the edit counts by action ("create", "modify", "delete") as the diffs
	// reported them (nil: unknown; count predicates then count the elements).
	Counts map[string]int
	// Line is where the <changeset> starts in the file it was read from (0: not from a file).
	Line int
}

// Rules is the metadata part of what the rules see; Build adds the edits.
func (m *Meta) Rules() *rules.Changeset {
	cs := &rules.Changeset{ID: m.ID, MetadataKnown: m.Known, User: m.User, Open: m.Open, Tags: m.Tags, Counts: m.Counts}
	if m.UID != nil {
		cs.UID = *m.UID
	}
	if m.CreatedAt != nil {
		cs.CreatedAt = m.CreatedAt.UTC()
	}
	if m.ClosedAt != nil {
		cs.ClosedAt = m.ClosedAt.UTC()
	}
	if m.CommentsCount != nil {
		cs.CommentsCount = *m.CommentsCount
	}
	if m.ChangesCount != nil {
		cs.ChangesCount = *m.ChangesCount
	}
	if m.Bound != nil {
		b := *m.Bound
		cs.BBox = &b
	}
	if cs.Tags == nil {
		cs.Tags = map[string]string{}
	}
	return cs
}
