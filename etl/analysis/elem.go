package analysis

import (
	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/elements"
)

// Analysis reads element versions as the element store holds them (elements.Element, keyed by
// elements.Key and elements.VKey): from the store, from files and downloads, and from the API.

// TypeName is node, way or relation.
func TypeName(t byte) string { return elements.TypeName(t) }

// fromObjects converts the nodes, ways and relations of objs (the API's answers: no action).
func fromObjects(objs osm.Objects) []elements.Element {
	out := make([]elements.Element, 0, len(objs))
	for _, o := range objs {
		if e, ok := elements.FromObject(o, 0); ok {
			out = append(out, e)
		}
	}
	return out
}

// tag is the value of e's tag k ("" when absent).
func tag(e *elements.Element, k string) string {
	v, _ := e.Tag(k)
	return v
}
