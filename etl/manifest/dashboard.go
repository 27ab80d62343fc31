package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"
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

// AlertRule is one Grafana alert rule of grafana/alerts.yaml, reduced to what osmtrack's rules
// use: one raw InfluxQL query over a window, reduced to its last value, compared with a
// threshold; NoData is what Grafana does when the query returns no series.
type AlertRule struct {
	UID, Title string
	Query      string
	Window     int64   // seconds: the query's $timeFilter is time > now() - Window
	Op         string  // gt or lt
	Threshold  float64 // of the query's last value
	NoData     string  // noDataState: Alerting, OK, NoData
	Datasource string
}

// AlertRules reads a Grafana alert provisioning file (apiVersion 1) and checks that each rule
// has the shape Firing evaluates: A = InfluxQL, B = reduce(A, last), C = threshold(B).
func AlertRules(data []byte) ([]AlertRule, error) {
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Groups     []struct {
			Name, Folder, Interval string
			OrgID                  int `yaml:"orgId"`
			Rules                  []struct {
				UID, Title, Condition string
				For                   string            `yaml:"for"`
				NoDataState           string            `yaml:"noDataState"`
				ExecErrState          string            `yaml:"execErrState"`
				Annotations, Labels   map[string]string `yaml:",omitempty"`
				Data                  []struct {
					RefID             string `yaml:"refId"`
					DatasourceUID     string `yaml:"datasourceUid"`
					RelativeTimeRange struct {
						From, To int64
					} `yaml:"relativeTimeRange"`
					Model struct {
						RefID        string `yaml:"refId"`
						Type         string `yaml:"type"`
						Expression   string `yaml:"expression"`
						Reducer      string `yaml:"reducer"`
						Query        string `yaml:"query"`
						RawQuery     bool   `yaml:"rawQuery"`
						ResultFormat string `yaml:"resultFormat"`
						Conditions   []struct {
							Evaluator struct {
								Type   string
								Params []float64
							}
						}
					}
				}
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("alert rules: %w", err)
	}
	if f.APIVersion != 1 || len(f.Groups) == 0 {
		return nil, fmt.Errorf("alert rules: want apiVersion 1 and at least one group")
	}
	var out []AlertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.UID == "" || r.Title == "" || r.Condition != "C" || len(r.Data) != 3 {
				return nil, fmt.Errorf("alert rule %q: want a uid, a title, condition C and data A, B, C", r.Title)
			}
			a, b, c := r.Data[0], r.Data[1], r.Data[2]
			if a.RefID != "A" || !a.Model.RawQuery || a.Model.Query == "" || a.RelativeTimeRange.From <= 0 ||
				b.RefID != "B" || b.Model.Type != "reduce" || b.Model.Expression != "A" || b.Model.Reducer != "last" ||
				c.RefID != "C" || c.Model.Type != "threshold" || c.Model.Expression != "B" || len(c.Model.Conditions) != 1 ||
				len(c.Model.Conditions[0].Evaluator.Params) != 1 || b.DatasourceUID != "__expr__" || c.DatasourceUID != "__expr__" {
				return nil, fmt.Errorf("alert rule %q: not A = raw InfluxQL, B = last of A, C = threshold of B", r.Title)
			}
			ev := c.Model.Conditions[0].Evaluator
			if ev.Type != "gt" && ev.Type != "lt" {
				return nil, fmt.Errorf("alert rule %q: evaluator %q", r.Title, ev.Type)
			}
			out = append(out, AlertRule{UID: r.UID, Title: r.Title, Query: a.Model.Query, Window: a.RelativeTimeRange.From,
				Op: ev.Type, Threshold: ev.Params[0], NoData: r.NoDataState, Datasource: a.DatasourceUID})
		}
	}
	return out, nil
}

// Firing evaluates the rule on the last value of its query's answer (ok false: no data).
func (r AlertRule) Firing(last float64, ok bool) bool {
	if !ok {
		return r.NoData == "Alerting"
	}
	if r.Op == "gt" {
		return last > r.Threshold
	}
	return last < r.Threshold
}
