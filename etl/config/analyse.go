package config

// Analyse configures the analyse step and the reasons it flags.
type Analyse struct {
	BatchSize            int      `yaml:"batch_size"`
	MaxDuration          Duration `yaml:"max_duration"`
	ChangesetDeadline    Duration `yaml:"changeset_deadline"`
	MaxAttempts          int      `yaml:"max_attempts"`
	RetryBackoff         Duration `yaml:"retry_backoff"`
	APIRequestsPerSecond float64  `yaml:"api_requests_per_second"`
}

func init() {
	sectionDefaults = append(sectionDefaults, func(c *Config) {
		c.Analyse = Analyse{BatchSize: 20, MaxDuration: Duration(100e9), ChangesetDeadline: Duration(60e9), MaxAttempts: 5, RetryBackoff: Duration(60e9), APIRequestsPerSecond: 2}
	})
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		if c.Analyse.BatchSize < 1 {
			errs = append(errs, FieldError{"analyse.batch_size", "must be at least 1"})
		}
		if c.Analyse.MaxAttempts < 1 {
			errs = append(errs, FieldError{"analyse.max_attempts", "must be at least 1"})
		}
		if c.Analyse.APIRequestsPerSecond <= 0 {
			errs = append(errs, FieldError{"analyse.api_requests_per_second", "must be positive"})
		}
		return errs
	})
}
