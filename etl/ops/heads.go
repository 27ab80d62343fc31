package ops

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/replication"
)

// FeedHeads returns the head fetchers of the minutely and the changeset feeds named in cfg,
// for StatusOptions.Heads. They try once (no retries): a status must answer when a feed is down.
func FeedHeads(cfg config.OSM, version string, log *slog.Logger) map[string]HeadFunc {
	ro := replication.OptionsFrom(cfg, version, log)
	ro.Retries = 0
	client := replication.NewClient(ro)
	heads := map[string]HeadFunc{}
	for name, feed := range map[string]*replication.Feed{
		"minute":     replication.NewFeed(cfg.ReplicationURL, replication.Minute, client),
		"changesets": replication.NewFeed(cfg.ChangesetReplicationURL, replication.Changesets, client),
	} {
		heads[name] = func(ctx context.Context) (uint64, time.Time, error) {
			st, err := feed.Head(ctx)
			return st.Seq, st.Timestamp, err
		}
	}
	return heads
}

// StateTxtHead returns a HeadFunc that reads <replicationURL>/state.txt of a minutely
// (Osmosis) replication feed with client. FeedHeads is the fuller choice.
func StateTxtHead(client *http.Client, replicationURL, userAgent string) HeadFunc {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	u := strings.TrimRight(replicationURL, "/") + "/state.txt"
	return func(ctx context.Context) (uint64, time.Time, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("head %s: %w", u, err)
		}
		if userAgent != "" {
			req.Header.Set("User-Agent", userAgent)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("head: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, time.Time{}, fmt.Errorf("head %s: %s", u, resp.Status)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("head %s: %w", u, err)
		}
		st, err := replication.ParseMinuteState(body)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("head %s: %w", u, err)
		}
		return st.Seq, st.Timestamp, nil
	}
}
