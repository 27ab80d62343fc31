package site

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
)

// MetricRun is one run of a step as InfluxDB's job_run measurement has it. Publish runs are
// only there (publish's role cannot write job_runs).
type MetricRun struct {
	Job      string
	Time     time.Time
	Outcome  string
	Duration float64 // seconds
	Items    int64
}

// InfluxRuns returns the last runs (at most perJob per step, newest first) of the last 7 days
// from the job_run measurement, with an InfluxQL query (/query works on InfluxDB 1.8 and, with
// a DBRP mapping, 2.x). The token is sent as "Authorization: Token …" ("user:password" for 1.8).
func InfluxRuns(ctx context.Context, m config.Metrics, perJob int, client *http.Client) ([]MetricRun, error) {
	if !m.Enabled() {
		return nil, nil
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	db, rp, _ := strings.Cut(m.Bucket, "/")
	q := url.Values{}
	q.Set("db", db)
	if rp != "" {
		q.Set("rp", rp)
	}
	q.Set("q", fmt.Sprintf(`SELECT "duration_seconds", "items", "outcome" FROM "job_run" WHERE time > now() - 7d GROUP BY "job" ORDER BY time DESC LIMIT %d`, perJob))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(m.URL, "/")+"/query?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("influxdb: %w", err)
	}
	if tok := m.Reader(); tok != "" {
		req.Header.Set("Authorization", "Token "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("influxdb: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("influxdb: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("influxdb: query job_run: %s: %s", resp.Status, truncate(strings.TrimSpace(string(body)), 200))
	}
	var out struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags    map[string]string `json:"tags"`
				Columns []string          `json:"columns"`
				Values  [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("influxdb: query job_run: %w", err)
	}
	var runs []MetricRun
	for _, r := range out.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxdb: query job_run: %s", r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				run := MetricRun{Job: s.Tags["job"]}
				for i, c := range s.Columns {
					if i >= len(v) {
						break
					}
					switch c {
					case "time":
						if ts, ok := v[i].(string); ok {
							run.Time, _ = time.Parse(time.RFC3339Nano, ts)
						}
					case "duration_seconds":
						run.Duration, _ = v[i].(float64)
					case "items":
						if f, ok := v[i].(float64); ok {
							run.Items = int64(f)
						}
					case "outcome":
						run.Outcome, _ = v[i].(string)
					}
				}
				runs = append(runs, run)
			}
		}
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if runs[i].Job != runs[j].Job {
			return runs[i].Job < runs[j].Job
		}
		return runs[i].Time.After(runs[j].Time)
	})
	return runs, nil
}
