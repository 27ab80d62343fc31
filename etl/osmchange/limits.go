package osmchange

import (
	"fmt"
	"regexp"
)

// Limits bound what one document may hold, so that a hostile or broken diff cannot take the
// memory of the process that decodes it. A zero field is no limit.
type Limits struct {
	MaxElements   int // element versions per document
	MaxTags       int // tags per element
	MaxValueBytes int // bytes of one tag key, tag value, member role or user name (decoded)
	MaxWayNodes   int // node references per way
	MaxMembers    int // members per relation
}

// DefaultLimits are generous for real OSM data (the API allows 255 characters per value,
// 2,000 nodes per way and 32,000 members per relation; the largest minutely diffs hold a few
// hundred thousand element versions) and bound memory for anything else.
var DefaultLimits = Limits{MaxElements: 2_000_000, MaxTags: 5_000, MaxValueBytes: 2048, MaxWayNodes: 2_000, MaxMembers: 32_000}

// LimitError is a document over one of its Limits.
type LimitError struct {
	What  string // "elements in the document", "tags in node 5 v2", …
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("more than %d %s (limit)", e.Limit, e.What)
}

// over reports whether n is past limit (0: no limit).
func over(n, limit int) bool { return limit > 0 && n > limit }

// Exact number syntax: decimal only, optionally surrounded by XML white space. Empty values,
// hexadecimal ("0x1p3"), "Inf", "NaN" and digit separators are errors.
var (
	intRe   = regexp.MustCompile(`^[ \t\r\n]*[-+]?[0-9]+[ \t\r\n]*$`)
	floatRe = regexp.MustCompile(`^[ \t\r\n]*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?[ \t\r\n]*$`)
)
