package config

import (
	"fmt"
	"time"
)

// Status configures `osmtrack status --strict`.
type Status struct {
	MaxLag Duration `yaml:"max_lag"`
	// Intervals is how often each job must succeed; it is merged over the defaults (fetch 5m,
	// filter 5m, analyse 10m, publish 10m). 0s turns a job's check off.
	Intervals   map[string]Duration `yaml:"intervals"`
	FailedLimit int                 `yaml:"failed_limit"`
}

// Prune configures retention.
type Prune struct {
	Changesets Duration `yaml:"changesets"`
	Diffs      Duration `yaml:"diffs"`
	JobRuns    Duration `yaml:"job_runs"`
	BatchSize  int      `yaml:"batch_size"`
}

// Backup configures backups and their rotation.
type Backup struct {
	Daily  int    `yaml:"daily"`
	Weekly int    `yaml:"weekly"`
	Dir    string `yaml:"dir"`
}

// StatusIntervals returns the expected interval of each job: the defaults with
// status.intervals over them.
func (c *Config) StatusIntervals() map[string]Duration {
	m := map[string]Duration{
		"fetch":   Duration(5 * 60e9),
		"filter":  Duration(5 * 60e9),
		"analyse": Duration(10 * 60e9),
		"publish": Duration(10 * 60e9),
	}
	for k, v := range c.Status.Intervals {
		m[k] = v
	}
	return m
}

func init() {
	sectionDefaults = append(sectionDefaults, func(c *Config) {
		c.Status = Status{MaxLag: Duration(15 * 60e9), FailedLimit: 20}
		c.Prune = Prune{Changesets: Duration(90 * 24 * 3600e9), Diffs: Duration(90 * 24 * 3600e9), JobRuns: Duration(30 * 24 * 3600e9), BatchSize: 5000}
		c.Backup = Backup{Daily: 7, Weekly: 4}
	})
	pathResolvers = append(pathResolvers, func(c *Config, dir string) {
		c.Backup.Dir = ResolvePath(dir, c.Backup.Dir)
	})
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		if c.Status.MaxLag <= 0 {
			errs = append(errs, FieldError{"status.max_lag", "must be positive"})
		}
		for k, v := range c.Status.Intervals {
			if v < 0 {
				errs = append(errs, FieldError{"status.intervals." + k, "must not be negative (0s turns the check off)"})
			}
		}
		if c.Status.FailedLimit < 1 {
			errs = append(errs, FieldError{"status.failed_limit", "must be at least 1"})
		}
		for key, v := range map[string]Duration{"prune.changesets": c.Prune.Changesets, "prune.diffs": c.Prune.Diffs, "prune.job_runs": c.Prune.JobRuns} {
			if v <= 0 {
				errs = append(errs, FieldError{key, fmt.Sprintf("%s: must be positive", v)})
			}
		}
		if c.Prune.Changesets > 0 && c.Publish.Days > 0 && c.Prune.Changesets.D() < time.Duration(c.Publish.Days)*24*time.Hour {
			errs = append(errs, FieldError{"prune.changesets", fmt.Sprintf("%s is shorter than publish.days (%d days): the site would lose changesets it shows", c.Prune.Changesets, c.Publish.Days)})
		}
		if c.Prune.BatchSize < 1 {
			errs = append(errs, FieldError{"prune.batch_size", "must be at least 1"})
		}
		if c.Backup.Daily < 0 || c.Backup.Weekly < 0 {
			errs = append(errs, FieldError{"backup", "daily and weekly must not be negative"})
		}
		return errs
	})
}
