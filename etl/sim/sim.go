// Package sim is osmtrack's stand-in for planet.openstreetmap.org replication and the OSM API
// v0.6: a deterministic world of mappers and edits (Generate), written in the real formats, and an
// HTTP handler that serves it (NewServer), with fault injection for reliability tests.
package sim

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Profiles.
const (
	ProfileRegion = "region" // a city region, a few changesets a minute, every reviewer case
	ProfilePlanet = "planet" // the region plus the planet's real volume outside it
)

// Defaults.
const (
	DefaultStartSeq = 6000000
)

// DefaultStartTime is the time of the state before the first generated minute.
var DefaultStartTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Options says what Generate writes.
type Options struct {
	Profile   string    // "region" or "planet"
	Minutes   int       // number of minutely diffs
	Seed      int64     // same seed, same bytes
	Out       string    // output directory
	StartSeq  uint64    // first minute sequence number (default 6000000)
	StartTime time.Time // timestamp of the state before the first minute (default DefaultStartTime)
	Base      string    // optional .osm.pbf extract for the region world (default: a generated town)
}

func (o *Options) defaults() error {
	if o.Profile == "" {
		o.Profile = ProfileRegion
	}
	if o.Profile != ProfileRegion && o.Profile != ProfilePlanet {
		return fmt.Errorf("sim: profile %q: want region or planet", o.Profile)
	}
	if o.Minutes <= 0 {
		return fmt.Errorf("sim: minutes %d: want at least 1", o.Minutes)
	}
	if o.Out == "" {
		return errors.New("sim: no output directory")
	}
	if o.StartSeq == 0 {
		o.StartSeq = DefaultStartSeq
	}
	if o.StartTime.IsZero() {
		o.StartTime = DefaultStartTime
	}
	o.StartTime = o.StartTime.UTC().Truncate(time.Minute)
	return nil
}

// Range is a min / median / max summary of a per-minute quantity.
type Range struct {
	Min    int64 `json:"min"`
	Median int64 `json:"median"`
	Max    int64 `json:"max"`
	Total  int64 `json:"total"`
}

// MinuteStats is one generated minute.
type MinuteStats struct {
	Seq              uint64 `json:"seq"`
	Changesets       int    `json:"changesets"`        // changesets with elements in this diff
	RegionChangesets int    `json:"region_changesets"` // of which touch the region polygon
	Elements         int    `json:"elements"`          // element versions in the diff
	Creates          int    `json:"creates"`
	Modifies         int    `json:"modifies"`
	Deletes          int    `json:"deletes"`
	XMLBytes         int64  `json:"xml_bytes"` // uncompressed osmChange
	GzBytes          int64  `json:"gz_bytes"`
}

// Stats describes a generated directory (written to stats.json by Generate).
type Stats struct {
	Profile          string         `json:"profile"`
	Seed             int64          `json:"seed"`
	Base             string         `json:"base"`
	StartSeq         uint64         `json:"start_seq"`
	EndSeq           uint64         `json:"end_seq"`
	StartTime        time.Time      `json:"start_time"`
	Minutes          int            `json:"minutes"`
	Changesets       int            `json:"changesets"`        // distinct changesets with elements
	RegionChangesets int            `json:"region_changesets"` // of which touch the region
	Users            int            `json:"users"`
	Kinds            map[string]int `json:"kinds"` // changesets per edit kind
	PerMinute        []MinuteStats  `json:"per_minute"`
	// Summaries over PerMinute.
	ChangesetsPerMinute Range         `json:"changesets_per_minute"`
	ElementsPerMinute   Range         `json:"elements_per_minute"`
	XMLBytesPerMinute   Range         `json:"xml_bytes_per_minute"`
	GzBytesPerMinute    Range         `json:"gz_bytes_per_minute"`
	Elapsed             time.Duration `json:"elapsed_ns"`
}

// Generate writes o.Minutes of replication (o.Out/replication/minute/..., o.Out/replication/changesets/...),
// what the API server needs (o.Out/api/...), the region polygon (o.Out/region.poly) and o.Out/stats.json.
func Generate(ctx context.Context, o Options) (*Stats, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	return generate(ctx, o)
}
