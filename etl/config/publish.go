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
	// Severity ranks reason codes in the review queue (higher first); codes not listed get
	// DefaultSeverity (the keys merge with the built-in table, see docs/site.md).
	Severity map[string]int `yaml:"severity"`
	// ReviewLabels are labels that put a changeset in the review queue even without a reason.
	ReviewLabels []string `yaml:"review_labels"`
	// Reviewers are OSM user names: a changeset one of them commented on is reviewed.
	Reviewers []string `yaml:"reviewers"`
}

// DefaultSeverity is the severity of a reason code that publish.severity does not list.
const DefaultSeverity = 30

// BuiltinSeverity is the default severity of the analysis's reason codes.
var BuiltinSeverity = map[string]int{
	"mass_deletion": 90, "major_road_deleted": 80, "place_changed": 70, "dragged_node": 70,
	"possible_import": 60, "multiple_blocks": 60, "mass_modification": 50, "review_requested": 50,
	"large_building": 40, "suspect_word": 40, "new_mapper": 20, "very_long_name": 20, "no_editor": 10,
}

// SeverityOf is the severity of a reason code: publish.severity, else the built-in table,
// else DefaultSeverity ("warning:*" codes of iD count as "warning" when listed).
func (p Publish) SeverityOf(code string) int {
	if v, ok := p.Severity[code]; ok {
		return v
	}
	if len(code) > 8 && code[:8] == "warning:" {
		if v, ok := p.Severity["warning"]; ok {
			return v
		}
	}
	if v, ok := BuiltinSeverity[code]; ok {
		return v
	}
	return DefaultSeverity
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
		for k, v := range c.Publish.Severity {
			if v < 0 || v > 100 {
				errs = append(errs, FieldError{"publish.severity." + k, "must be between 0 and 100"})
			}
		}
		if c.Publish.PageSize < 1 {
			errs = append(errs, FieldError{"publish.page_size", "must be at least 1"})
		}
		return errs
	})
}
