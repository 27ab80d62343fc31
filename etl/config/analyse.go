package config

// Analyse configures the analyse step and the reasons it flags.
type Analyse struct {
	BatchSize            int      `yaml:"batch_size"`
	MaxDuration          Duration `yaml:"max_duration"`
	ChangesetDeadline    Duration `yaml:"changeset_deadline"`
	MaxAttempts          int      `yaml:"max_attempts"`
	RetryBackoff         Duration `yaml:"retry_backoff"`
	APIRequestsPerSecond float64  `yaml:"api_requests_per_second"`
	// APIMaxURLLength bounds the length of multi-fetch URLs (nodes?nodes=1v2,…).
	APIMaxURLLength int `yaml:"api_max_url_length"`
	// UserDetails looks users up in the OSM API (cached per user per day) for new_mapper when
	// the changeset has no changesets_count tag, and for multiple_blocks.
	UserDetails bool `yaml:"user_details"`
	// LengthKeys are the keys whose ways get lengths per key=value in length_m.
	LengthKeys []string       `yaml:"length_keys"`
	Reasons    AnalyseReasons `yaml:"reasons"`
}

// AnalyseReasons holds the thresholds and word lists of the reasons.
type AnalyseReasons struct {
	ImportRatio         float64  `yaml:"import_ratio"`
	ImportMin           int      `yaml:"import_min"`
	ImportMinAnyEditor  int      `yaml:"import_min_any_editor"`
	ModifyRatio         float64  `yaml:"modify_ratio"`
	ModifyMin           int      `yaml:"modify_min"`
	DeleteRatio         float64  `yaml:"delete_ratio"`
	DeleteMin           int      `yaml:"delete_min"`
	DeleteMinAbsolute   int      `yaml:"delete_min_absolute"`
	PowerfulEditors     []string `yaml:"powerful_editors"`
	SourceWords         []string `yaml:"source_words"`
	SuspectWords        []string `yaml:"suspect_words"`
	ExcludedWords       []string `yaml:"excluded_words"`
	SourceExceptions    []string `yaml:"source_exceptions"`
	NewMapperChangesets int      `yaml:"new_mapper_changesets"`
	MaxBlocks           int      `yaml:"max_blocks"`
	Warnings            []string `yaml:"warnings"`
	LargeBuildingM2     float64  `yaml:"large_building_m2"`
	DraggedNodeM        float64  `yaml:"dragged_node_m"`
	DraggedNodeKeys     []string `yaml:"dragged_node_keys"`
	LongNameChars       int      `yaml:"long_name_chars"`
	MajorRoads          []string `yaml:"major_roads"`
}

// DefaultAnalyseReasons are the OSMCha-compatible defaults.
func DefaultAnalyseReasons() AnalyseReasons {
	return AnalyseReasons{
		ImportRatio: 0.7, ImportMin: 200, ImportMinAnyEditor: 1000,
		ModifyRatio: 0.7, ModifyMin: 200,
		DeleteRatio: 0.7, DeleteMin: 30, DeleteMinAbsolute: 1000,
		PowerfulEditors: []string{"josm", "level0", "merkaartor", "qgis", "arcgis", "upload.py", "osmapi", "services_openstreetmap"},
		SourceWords:     []string{"google", "nokia", "waze", "apple", "tomtom", "wikimapia", "goo.gl", "navteq", "teleatlas", "yelp", "yandex", "яндекс", "2gis", "2гис"},
		SuspectWords: []string{"pokemon", "import", "reimport", "re-import", "einführen", "импортировать", "импорт", "インポート", "進口", "导入", "імпорт",
			"bad", "mess", "rubish", "shit", "crap", "broken", "haha", "jaja", "political", "mischief", "nuisance", "nonsense", "vandal",
			"newbie", "dirty", "monster", "xxx", "sex", "escort", "destroy", "harm", "drag", "damn", "fuck", "geofiction", "test"},
		ExcludedWords:       []string{"important", "importante", "yandex panorama", "яндекс панорам", "яндекс.панорам"},
		SourceExceptions:    []string{"yandex panorama", "яндекс панорам", "яндекс.панорам"},
		NewMapperChangesets: 50,
		MaxBlocks:           1,
		Warnings: []string{"almost_junction", "close_nodes", "crossing_ways", "disconnected_way", "impossible_oneway",
			"mismatched_geometry", "missing_role", "missing_tag", "outdated_tags", "private_data", "unsquare_way"},
		LargeBuildingM2: 500000,
		DraggedNodeM:    10000,
		DraggedNodeKeys: []string{"highway", "waterway"},
		LongNameChars:   80,
		MajorRoads:      []string{"motorway", "trunk", "primary"},
	}
}

func init() {
	sectionDefaults = append(sectionDefaults, func(c *Config) {
		c.Analyse = Analyse{BatchSize: 20, MaxDuration: Duration(100e9), ChangesetDeadline: Duration(60e9), MaxAttempts: 5, RetryBackoff: Duration(60e9), APIRequestsPerSecond: 2,
			APIMaxURLLength: 8000, UserDetails: true,
			LengthKeys: []string{"highway", "railway", "waterway", "cycleway", "aerialway", "busway", "power", "piste:type"},
			Reasons:    DefaultAnalyseReasons()}
	})
	sectionValidators = append(sectionValidators, func(c *Config) []FieldError {
		var errs []FieldError
		a := c.Analyse
		if a.BatchSize < 1 {
			errs = append(errs, FieldError{"analyse.batch_size", "must be at least 1"})
		}
		if a.MaxAttempts < 1 {
			errs = append(errs, FieldError{"analyse.max_attempts", "must be at least 1"})
		}
		if a.APIRequestsPerSecond <= 0 {
			errs = append(errs, FieldError{"analyse.api_requests_per_second", "must be positive"})
		}
		if a.APIMaxURLLength < 200 {
			errs = append(errs, FieldError{"analyse.api_max_url_length", "must be at least 200"})
		}
		if a.ChangesetDeadline <= 0 {
			errs = append(errs, FieldError{"analyse.changeset_deadline", "must be positive"})
		}
		if a.MaxDuration <= 0 {
			errs = append(errs, FieldError{"analyse.max_duration", "must be positive"})
		}
		if a.RetryBackoff < 0 {
			errs = append(errs, FieldError{"analyse.retry_backoff", "must not be negative"})
		}
		r := a.Reasons
		for key, v := range map[string]float64{"analyse.reasons.import_ratio": r.ImportRatio, "analyse.reasons.modify_ratio": r.ModifyRatio, "analyse.reasons.delete_ratio": r.DeleteRatio} {
			if v < 0 || v > 1 {
				errs = append(errs, FieldError{key, "must be between 0 and 1"})
			}
		}
		for key, v := range map[string]int{"analyse.reasons.import_min": r.ImportMin, "analyse.reasons.import_min_any_editor": r.ImportMinAnyEditor,
			"analyse.reasons.modify_min": r.ModifyMin, "analyse.reasons.delete_min": r.DeleteMin, "analyse.reasons.delete_min_absolute": r.DeleteMinAbsolute,
			"analyse.reasons.new_mapper_changesets": r.NewMapperChangesets, "analyse.reasons.max_blocks": r.MaxBlocks, "analyse.reasons.long_name_chars": r.LongNameChars} {
			if v < 0 {
				errs = append(errs, FieldError{key, "must not be negative"})
			}
		}
		for key, v := range map[string]float64{"analyse.reasons.large_building_m2": r.LargeBuildingM2, "analyse.reasons.dragged_node_m": r.DraggedNodeM} {
			if v <= 0 {
				errs = append(errs, FieldError{key, "must be positive"})
			}
		}
		for key, l := range map[string][]string{"analyse.reasons.suspect_words": r.SuspectWords, "analyse.reasons.source_words": r.SourceWords,
			"analyse.reasons.excluded_words": r.ExcludedWords, "analyse.reasons.source_exceptions": r.SourceExceptions, "analyse.reasons.powerful_editors": r.PowerfulEditors} {
			for _, w := range l {
				if w == "" {
					errs = append(errs, FieldError{key, "must not contain an empty word"})
					break
				}
			}
		}
		return errs
	})
}
