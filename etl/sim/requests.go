package sim

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
)

// Requests counts the API requests a Server answered, by kind: what the tests and the demo
// quote as "API requests analyse (or fetch) made".
type Requests struct {
	Elements   int64 `json:"elements"`   // node/way/relation: one version, history, full, and multi-fetch (nodes, ways, relations)
	Changesets int64 `json:"changesets"` // changeset metadata
	Downloads  int64 `json:"downloads"`  // changeset/ID/download
	Users      int64 `json:"users"`      // user details
}

// Total is every API request.
func (r Requests) Total() int64 { return r.Elements + r.Changesets + r.Downloads + r.Users }

type requestCounters struct {
	elements, changesets, downloads, users atomic.Int64
}

// count records one API request for the path below /api/0.6/.
func (c *requestCounters) count(parts []string) {
	switch parts[0] {
	case "changeset":
		if len(parts) == 3 && parts[2] == "download" {
			c.downloads.Add(1)
		} else {
			c.changesets.Add(1)
		}
	case "node", "way", "relation", "nodes", "ways", "relations":
		c.elements.Add(1)
	case "user":
		c.users.Add(1)
	}
}

// Requests returns the API requests answered so far.
func (s *Server) Requests() Requests {
	c := &s.requests
	return Requests{Elements: c.elements.Load(), Changesets: c.changesets.Load(), Downloads: c.downloads.Load(), Users: c.users.Load()}
}

// serveRequests answers /sim/requests: the counts as JSON (for scripts/demo.sh).
func (s *Server) serveRequests(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Requests())
}
