package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Reader runs InfluxQL statements (POST /query: InfluxDB 1.8, or 2.x through its v1
// compatibility API). It is the one InfluxQL client of osmtrack's status and backups.
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
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Values  [][]any  `json:"values"`
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
