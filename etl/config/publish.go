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
	// LeafletDir holds Leaflet's dist files (default: site/node_modules/leaflet/dist).
	LeafletDir string `yaml:"leaflet_dir"`
	// Overlap is how far before the previous run's snapshot an incremental run looks for changes.
	Overlap Duration `yaml:"overlap"`
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
			Overlap:         Duration(10 * 60e9),
		}
	})
	pathResolvers = append(pathResolvers, func(c *Config, dir string) {
		c.Publish.Out = ResolvePath(dir, c.Publish.Out)
		c.Publish.LeafletDir = ResolvePath(dir, c.Publish.LeafletDir)
	})
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		if len(c.Publish.MapCenter) != 0 && len(c.Publish.MapCenter) != 2 {
			errs = append(errs, FieldError{"publish.map_center", "must be [lat, lon]"})
		}
		if c.Publish.Days < 1 {
			errs = append(errs, FieldError{"publish.days", "must be at least 1"})
		}
		if c.Publish.Overlap < 0 {
			errs = append(errs, FieldError{"publish.overlap", "must not be negative"})
		}
		if c.Publish.MapZoom < 0 || c.Publish.MapZoom > 19 {
			errs = append(errs, FieldError{"publish.map_zoom", "must be between 0 and 19"})
		}
		if c.Publish.PageSize < 1 {
			errs = append(errs, FieldError{"publish.page_size", "must be at least 1"})
		}
		return errs
	})
}
