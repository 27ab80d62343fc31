package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Reader runs InfluxQL statements (POST /query: InfluxDB 1.8, or 2.x through its v1
// compatibility API). It is the one InfluxQL client of osmtrack: status, backups and the site's
// status page.
type Reader struct {
	URL string
	// Auth is "user:password" (basic authentication, 1.8) or a token (2.x); empty for none.
	Auth string
	// Client is the HTTP client (default: 60 s timeout).
	Client *http.Client
	// MaxBody is the largest answer read (default 1 MiB).
	MaxBody int64
}

// Result is one statement's answer.
type Result struct {
	Series []Series `json:"series"`
	Error  string   `json:"error"`
}

// Series is one series of a Result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"` // with GROUP BY
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs the statements q (separated by ";") against database db (none when empty) and
// returns one Result per statement. An error of the request or of any statement is an error.
func (r Reader) Query(ctx context.Context, db, q string) ([]Result, error) {
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.URL, "/")+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user, pass, ok := strings.Cut(r.Auth, ":"); ok {
		req.SetBasicAuth(user, pass)
	} else if r.Auth != "" {
		req.Header.Set("Authorization", "Token "+r.Auth)
	}
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	max := r.MaxBody
	if max <= 0 {
		max = 1 << 20
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, max))
	var out struct {
		Results []Result `json:"results"`
		Error   string   `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if out.Error != "" {
		return nil, errors.New(out.Error)
	}
	for _, res := range out.Results {
		if res.Error != "" {
			return nil, errors.New(res.Error)
		}
	}
	return out.Results, nil
}

// QuoteIdent quotes an InfluxQL identifier.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// Run is one run of a step: a point of the job_run measurement.
type Run struct {
	Job      string
	Time     time.Time
	Outcome  string
	Duration float64 // seconds
	Items    int64
}

// RecentRuns returns the runs of the last 7 days in bucket ("db" or "db/rp"): at most perJob per
// step, steps in name order, each step's newest first.
func (r Reader) RecentRuns(ctx context.Context, bucket string, perJob int) ([]Run, error) {
	db, rp, _ := strings.Cut(bucket, "/")
	from := QuoteIdent(db) + "."
	if rp != "" {
		from += QuoteIdent(rp)
	}
	from += `."job_run"`
	q := fmt.Sprintf(`SELECT "duration_seconds", "items", "outcome" FROM %s WHERE time > now() - 7d GROUP BY "job" ORDER BY time DESC LIMIT %d`, from, perJob)
	results, err := r.Query(ctx, db, q)
	if err != nil {
		return nil, fmt.Errorf("influxdb: query job_run: %w", err)
	}
	var runs []Run
	for _, res := range results {
		for _, s := range res.Series {
			for _, v := range s.Values {
				run := Run{Job: s.Tags["job"]}
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
