// Package rules decides which labels a changeset carries and whether it goes on to analysis.
// Rules are YAML (docs/rules.md): each names a label and a condition built from all, any and
// not over predicates (region, changeset tags, users, editor, elements, counts, comments, open,
// analysis reasons). Every label carries evidence a reviewer can read: the rule, the predicate
// and what it matched on. The prefilter, an expression over labels, gives the verdict.
//
// The package is pure: the filter step, `osmtrack rules test` and the analyse step build a
// Changeset with etl/changeset's one builder and call Set.Evaluate.
package rules

import (
	"fmt"
	"time"

	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/elements"
)

// Phase says which rules Evaluate runs.
type Phase int

const (
	// PhaseFilter runs the rules that need no analysis; rules with a reason predicate are
	// not yet evaluable and are skipped. The verdict comes from the prefilter.
	PhaseFilter Phase = iota
	// PhaseAnalyse runs only the rules that need the analysis (those with a reason
	// predicate), with Changeset.Reasons set; their labels are written with source 'analyse'.
	PhaseAnalyse
	// PhaseAll runs every rule (rules test with reasons at hand; tests).
	PhaseAll
)

func (p Phase) String() string {
	switch p {
	case PhaseFilter:
		return "filter"
	case PhaseAnalyse:
		return "analyse"
	}
	return "all"
}

// Changeset is what rules look at: the metadata (from the changeset feed or the API), the
// edited elements (from the diffs), and, after analysis, its reasons.
type Changeset struct {
	ID            int64
	User          string
	UID           int64
	CreatedAt     time.Time
	ClosedAt      time.Time // zero while open or unknown
	Open          bool
	MetadataKnown bool // false: only the diffs have been seen (tags, bbox, counts unknown)
	CommentsCount int
	ChangesCount  int
	Tags          map[string]string
	BBox          *orb.Bound // nil when unknown (no metadata, or a changeset without changes)

	Elements []Element
	// EditPoints are further locations of edits besides the element points, e.g. the nodes
	// of a modified way; region predicates in edits mode read both.
	EditPoints []EditPoint
	// Counts, when set, are the changeset's edit counts by action ("create", "modify",
	// "delete") as the diffs reported them; count predicates over any type use them instead
	// of counting Elements (which may hold only the elements kept).
	Counts map[string]int

	// Reasons are the analysis reason codes (PhaseAnalyse).
	Reasons []string
}

// Element is one edited element version: the element store's type (etl/elements), with its
// previous version. Action is never 0 (a version without one counts as a modify, or a delete
// when it is not visible); a location is HasCoords with Lat/Lon; Source says where the version
// (and so its location) came from.
type Element struct {
	elements.Element
	Old *elements.Element // the previous version, when known
}

// TypeName is node, way or relation.
func (e *Element) TypeName() string { return elements.TypeName(e.Type) }

// Point is the version's location (false: none, e.g. ways, relations, deleted nodes).
func (e *Element) Point() (orb.Point, bool) { return pointOf(&e.Element) }

// OldPoint is the previous version's location (false: none or no previous version).
func (e *Element) OldPoint() (orb.Point, bool) {
	if e.Old == nil {
		return orb.Point{}, false
	}
	return pointOf(e.Old)
}

func pointOf(e *elements.Element) (orb.Point, bool) {
	if !e.HasCoords {
		return orb.Point{}, false
	}
	return orb.Point{e.Lon, e.Lat}, true
}

// EditPoint is a location touched by an edit, with what it is (e.g. "node/5 of way/7").
type EditPoint struct {
	Point  orb.Point
	Ref    string
	Source string // where the location came from: diff, seed, api, download ("" unknown)
}

// Label is a label a rule gave a changeset, with the evidence.
type Label struct {
	Label       string     `json:"label"`
	Description string     `json:"description,omitempty"`
	Rule        string     `json:"rule"` // where the rule is defined: "rules.yaml:12"
	Evidence    []Evidence `json:"evidence"`
}

// Evidence is one predicate that matched and what it matched on.
type Evidence struct {
	Predicate string   `json:"predicate"`           // the predicate, as written: `comment regex "\bimport"`
	Detail    string   `json:"detail"`              // readable: `comment "Import of buildings" matches "Import"`
	Tag       string   `json:"tag,omitempty"`       // the tag looked at
	Value     string   `json:"value,omitempty"`     // its value
	Found     string   `json:"found,omitempty"`     // the text that matched
	Element   string   `json:"element,omitempty"`   // "node/123 v4"
	Region    string   `json:"region,omitempty"`    // the region
	Count     *float64 `json:"count,omitempty"`     // a count or ratio
	Threshold *float64 `json:"threshold,omitempty"` // the limit it was compared with
	Reason    string   `json:"reason,omitempty"`    // an analysis reason code
}

// Verdict is the prefilter's decision.
type Verdict struct {
	Analyse bool   `json:"analyse"`
	Reason  string `json:"reason"` // why, readable
}

// Error is a rules file error with its place; commands exit 2 on it.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("rules %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("rules %s: %s", e.File, e.Msg)
}

func fptr(f float64) *float64 { return &f }
