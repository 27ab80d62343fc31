package config

import (
	"fmt"
	"regexp"
)

// Fetch configures the fetch step (minutely diffs into the element store).
type Fetch struct {
	Pointer     string   `yaml:"pointer"`
	Start       string   `yaml:"start"`
	MaxDiffs    int      `yaml:"max_diffs"`
	MaxDuration Duration `yaml:"max_duration"`
	Retention   Duration `yaml:"retention"`
	// MaxClockSkew is how far in the future a replication state time may be; a later one is
	// refused (both feeds).
	MaxClockSkew Duration `yaml:"max_clock_skew"`
}

// ChangesetFeed configures reading changeset metadata from the changeset replication feed.
type ChangesetFeed struct {
	Pointer     string   `yaml:"pointer"`
	Start       string   `yaml:"start"`
	MaxFiles    int      `yaml:"max_files"`
	MaxDuration Duration `yaml:"max_duration"`
}

var startRe = regexp.MustCompile(`^(head|\d+|\d+ (minutes?|hours?|days?) ago|\d{4}-\d\d-\d\dT.*)$`)

func init() {
	sectionDefaults = append(sectionDefaults, func(c *Config) {
		c.Fetch = Fetch{Pointer: "minute", Start: "head", MaxDiffs: 60, MaxDuration: Duration(45e9), Retention: Duration(30 * 24 * 3600e9), MaxClockSkew: Duration(3600e9)}
		c.Changeset = ChangesetFeed{Pointer: "changesets", Start: "head", MaxFiles: 60, MaxDuration: Duration(45e9)}
	})
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		if c.Fetch.Pointer == "" {
			errs = append(errs, FieldError{"fetch.pointer", "must not be empty"})
		}
		if !startRe.MatchString(c.Fetch.Start) {
			errs = append(errs, FieldError{"fetch.start", fmt.Sprintf("%q is not head, a sequence number, \"N hours ago\" or an RFC 3339 time", c.Fetch.Start)})
		}
		if c.Fetch.MaxDiffs < 1 {
			errs = append(errs, FieldError{"fetch.max_diffs", "must be at least 1"})
		}
		if c.Fetch.MaxDuration <= 0 {
			errs = append(errs, FieldError{"fetch.max_duration", "must be positive"})
		}
		if c.Fetch.MaxClockSkew <= 0 {
			errs = append(errs, FieldError{"fetch.max_clock_skew", "must be positive"})
		}
		if c.Fetch.Retention <= 0 {
			errs = append(errs, FieldError{"fetch.retention", "must be positive"})
		}
		if c.Changeset.Pointer == "" {
			errs = append(errs, FieldError{"changesets.pointer", "must not be empty"})
		}
		if !startRe.MatchString(c.Changeset.Start) {
			errs = append(errs, FieldError{"changesets.start", fmt.Sprintf("%q is not head, a sequence number, \"N hours ago\" or an RFC 3339 time", c.Changeset.Start)})
		}
		if c.Changeset.MaxFiles < 1 {
			errs = append(errs, FieldError{"changesets.max_files", "must be at least 1"})
		}
		return errs
	})
}
