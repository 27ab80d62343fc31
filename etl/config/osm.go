package config

import "strings"

// OSM names the OpenStreetMap servers (or the simulator standing in for them).
type OSM struct {
	ReplicationURL          string   `yaml:"replication_url"`
	ChangesetReplicationURL string   `yaml:"changeset_replication_url"`
	APIURL                  string   `yaml:"api_url"`
	Contact                 string   `yaml:"contact"`
	ConnectTimeout          Duration `yaml:"connect_timeout"`
	HeaderTimeout           Duration `yaml:"header_timeout"`
	RequestTimeout          Duration `yaml:"request_timeout"`
	Retries                 int      `yaml:"retries"`
	RetryBackoff            Duration `yaml:"retry_backoff"`

	// Limits on what is read from the network (docs/config.md lists them with the memory
	// bound they give).
	MaxBodyBytes         int64 `yaml:"max_body_bytes"`         // one HTTP body as sent (gzipped)
	MaxUncompressedBytes int64 `yaml:"max_uncompressed_bytes"` // one replication file after gunzip
	MaxElements          int   `yaml:"max_elements"`           // element versions per diff
	MaxTags              int   `yaml:"max_tags"`               // tags per element
	MaxValueBytes        int   `yaml:"max_value_bytes"`        // one tag key or value, role or user name
	MaxWayNodes          int   `yaml:"max_way_nodes"`          // node references per way
	MaxMembers           int   `yaml:"max_members"`            // members per relation
}

func init() {
	sectionDefaults = append(sectionDefaults, func(c *Config) {
		c.OSM = OSM{
			ReplicationURL:          "https://planet.openstreetmap.org/replication/minute/",
			ChangesetReplicationURL: "https://planet.openstreetmap.org/replication/changesets/",
			APIURL:                  "https://api.openstreetmap.org/api/0.6/",
			ConnectTimeout:          Duration(10e9),
			HeaderTimeout:           Duration(30e9),
			RequestTimeout:          Duration(120e9),
			Retries:                 4,
			RetryBackoff:            Duration(1e9),
			MaxBodyBytes:            64 << 20,
			MaxUncompressedBytes:    256 << 20,
			MaxElements:             2_000_000,
			MaxTags:                 5_000,
			MaxValueBytes:           2048,
			MaxWayNodes:             2_000,
			MaxMembers:              32_000,
		}
	})
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		for key, u := range map[string]string{
			"osm.replication_url":           c.OSM.ReplicationURL,
			"osm.changeset_replication_url": c.OSM.ChangesetReplicationURL,
			"osm.api_url":                   c.OSM.APIURL,
		} {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				errs = append(errs, FieldError{key, "must be an http:// or https:// URL"})
			}
		}
		for key, n := range map[string]int64{"osm.max_body_bytes": c.OSM.MaxBodyBytes, "osm.max_uncompressed_bytes": c.OSM.MaxUncompressedBytes,
			"osm.max_elements": int64(c.OSM.MaxElements), "osm.max_tags": int64(c.OSM.MaxTags), "osm.max_value_bytes": int64(c.OSM.MaxValueBytes),
			"osm.max_way_nodes": int64(c.OSM.MaxWayNodes), "osm.max_members": int64(c.OSM.MaxMembers)} {
			if n < 1 {
				errs = append(errs, FieldError{key, "must be at least 1"})
			}
		}
		if c.OSM.Retries < 0 {
			errs = append(errs, FieldError{"osm.retries", "must not be negative"})
		}
		for key, d := range map[string]Duration{"osm.connect_timeout": c.OSM.ConnectTimeout, "osm.header_timeout": c.OSM.HeaderTimeout, "osm.request_timeout": c.OSM.RequestTimeout} {
			if d <= 0 {
				errs = append(errs, FieldError{key, "must be positive"})
			}
		}
		return errs
	})
}
