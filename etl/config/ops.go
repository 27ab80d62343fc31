package config

// Status configures `osmtrack status --strict`.
type Status struct {
	MaxLag Duration `yaml:"max_lag"`
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
	Daily  int `yaml:"daily"`
	Weekly int `yaml:"weekly"`
}

func init() {
	sectionDefaults = append(sectionDefaults, func(c *Config) {
		c.Status = Status{MaxLag: Duration(15 * 60e9)}
		c.Prune = Prune{Changesets: Duration(90 * 24 * 3600e9), Diffs: Duration(90 * 24 * 3600e9), JobRuns: Duration(30 * 24 * 3600e9), BatchSize: 5000}
		c.Backup = Backup{Daily: 7, Weekly: 4}
	})
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		if c.Status.MaxLag <= 0 {
			errs = append(errs, FieldError{"status.max_lag", "must be positive"})
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
