package status

import (
	"context"
	"log/slog"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/replication"
)

// FeedHeads returns the head fetchers of the minutely and the changeset feeds named in cfg,
// for Options.Heads. They try once (no retries): a status must answer when a feed is down.
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
