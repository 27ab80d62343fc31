package config

import "gopkg.in/yaml.v3"

// Region is an area of interest: a .poly or GeoJSON file, or inline GeoJSON, grown by BufferM.
type Region struct {
	File    string    `yaml:"file"`
	GeoJSON yaml.Node `yaml:"geojson"`
	BufferM float64   `yaml:"buffer_m"`
}

// Rules holds the label rules: inline (labels, prefilter) or in a separate file.
// The rules package decodes and checks the yaml nodes with their line numbers.
type Rules struct {
	File      string    `yaml:"file"`
	Labels    yaml.Node `yaml:"labels"`
	Prefilter yaml.Node `yaml:"prefilter"`
}

// Filter configures the filter step.
type Filter struct {
	MetadataWait Duration `yaml:"metadata_wait"`
	BatchSize    int      `yaml:"batch_size"`
	MaxDuration  Duration `yaml:"max_duration"`
}

func init() {
	sectionDefaults = append(sectionDefaults, func(c *Config) {
		c.Filter = Filter{MetadataWait: Duration(10 * 60e9), BatchSize: 200, MaxDuration: Duration(45e9)}
	})
	pathResolvers = append(pathResolvers, func(c *Config, dir string) {
		for name, r := range c.Regions {
			r.File = ResolvePath(dir, r.File)
			c.Regions[name] = r
		}
		c.Rules.File = ResolvePath(dir, c.Rules.File)
	})
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		for name, r := range c.Regions {
			if r.File == "" && r.GeoJSON.Kind == 0 {
				errs = append(errs, FieldError{"regions." + name, "needs file or geojson"})
			}
			if r.BufferM < 0 {
				errs = append(errs, FieldError{"regions." + name + ".buffer_m", "must not be negative"})
			}
		}
		if c.Filter.BatchSize < 1 {
			errs = append(errs, FieldError{"filter.batch_size", "must be at least 1"})
		}
		if c.Filter.MaxDuration <= 0 {
			errs = append(errs, FieldError{"filter.max_duration", "must be positive"})
		}
		return errs
	})
}
