package elements

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The row codec: how an Element maps to the columns of `elements`.
//
//	type      "char" 'n' | 'w' | 'r'
//	tags      jsonb  {"k":"v",...} ({} without tags)
//	geom      geometry(Point, 4326): the location, NULL without one (never POINT(0 0))
//	nodes     bigint[] for ways ({} for a way without nodes), NULL otherwise
//	members   jsonb [{"type":"n","ref":1,"role":""}] for relations, NULL otherwise
//	action    create | modify | delete, NULL when unknown
//	uid       NULL for 0; username NULL for ""
//	seq       the diff that wrote it, NULL for 0
//	source    diff | seed | api | download (NULL in rows older than migration 060: read as
//	          diff when seq is set, else api)

// AppendTagsJSON appends the tags as a JSON object.
func AppendTagsJSON(b []byte, tags []Tag) []byte {
	b = append(b, '{')
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, t.Key)
		b = append(b, ':')
		b = AppendJSONString(b, t.Value)
	}
	return append(b, '}')
}

// AppendMembersJSON appends the members as a JSON array.
func AppendMembersJSON(b []byte, ms []Member) []byte {
	b = append(b, '[')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"`...)
		b = append(b, m.Type)
		b = append(b, `","ref":`...)
		b = strconv.AppendInt(b, m.Ref, 10)
		b = append(b, `,"role":`...)
		b = AppendJSONString(b, m.Role)
		b = append(b, '}')
	}
	return append(b, ']')
}

// AppendNodesArray appends node ids as a PostgreSQL array literal ({1,2,3}).
func AppendNodesArray(b []byte, nodes []int64) []byte {
	b = append(b, '{')
	for j, r := range nodes {
		if j > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, r, 10)
	}
	return append(b, '}')
}

// AppendJSONString appends s as a JSON string.
func AppendJSONString(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\"\\") && isPlainASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// DecodeTags reads the tags column. jsonb does not keep key order: tags come back sorted by
// key length, then bytes (jsonb's order).
func DecodeTags(data []byte) ([]Tag, error) {
	if len(data) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("tags: not an object")
	}
	var tags []Tag
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		k, _ := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		v, ok := vt.(string)
		if !ok {
			return nil, fmt.Errorf("tags: value of %q is not a string", k)
		}
		tags = append(tags, Tag{k, v})
	}
	return tags, nil
}

type memberJSON struct {
	Type string `json:"type"`
	Ref  int64  `json:"ref"`
	Role string `json:"role"`
}

// DecodeMembers reads the members column (NULL: nil).
func DecodeMembers(data []byte) ([]Member, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var ms []memberJSON
	if err := json.Unmarshal(data, &ms); err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		if len(m.Type) != 1 || (m.Type[0] != Node && m.Type[0] != Way && m.Type[0] != Relation) {
			return nil, fmt.Errorf("members: member %d: unknown type %q", i, m.Type)
		}
		out[i] = Member{Type: m.Type[0], Ref: m.Ref, Role: m.Role}
	}
	return out, nil
}

// sourceOf reads the source column of a row.
func sourceOf(s *string, seq *int64) Source {
	if s != nil {
		if src, err := ParseSource(*s); err == nil {
			return src
		}
	}
	if seq != nil {
		return SourceDiff
	}
	return SourceAPI
}
