package manifest

import (
	"encoding/json"
	"fmt"
)

// DashboardQuery is one InfluxQL query of a Grafana panel.
type DashboardQuery struct {
	Panel string
	Query string
}

// DashboardQueries returns every raw InfluxQL query of a Grafana dashboard's panels.
func DashboardQueries(data []byte) ([]DashboardQuery, error) {
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Query    string `json:"query"`
				RawQuery bool   `json:"rawQuery"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var out []DashboardQuery
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			if !t.RawQuery || t.Query == "" {
				return nil, fmt.Errorf("dashboard: panel %q has a target that is not a raw InfluxQL query", p.Title)
			}
			out = append(out, DashboardQuery{Panel: p.Title, Query: t.Query})
		}
	}
	return out, nil
}
