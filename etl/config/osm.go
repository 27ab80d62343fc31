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
