package config

// Publish configures the static site.
type Publish struct {
	Title           string    `yaml:"title"`
	BaseURL         string    `yaml:"base_url"`
	Out             string    `yaml:"out"`
	MapCenter       []float64 `yaml:"map_center"`
	MapZoom         int       `yaml:"map_zoom"`
	TileURL         string    `yaml:"tile_url"`
	TileAttribution string    `yaml:"tile_attribution"`
	Days            int       `yaml:"days"`
	PageSize        int       `yaml:"page_size"`
}

func init() {
	sectionDefaults = append(sectionDefaults, func(c *Config) {
		c.Publish = Publish{
			Title:           "osmtrack",
			BaseURL:         "/",
			Out:             "site-out",
			TileURL:         "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
			TileAttribution: "© OpenStreetMap contributors",
			Days:            30,
			PageSize:        50,
		}
	})
	pathResolvers = append(pathResolvers, func(c *Config, dir string) { c.Publish.Out = ResolvePath(dir, c.Publish.Out) })
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		if len(c.Publish.MapCenter) != 0 && len(c.Publish.MapCenter) != 2 {
			errs = append(errs, FieldError{"publish.map_center", "must be [lat, lon]"})
		}
		if c.Publish.Days < 1 {
			errs = append(errs, FieldError{"publish.days", "must be at least 1"})
		}
		if c.Publish.PageSize < 1 {
			errs = append(errs, FieldError{"publish.page_size", "must be at least 1"})
		}
		return errs
	})
}
