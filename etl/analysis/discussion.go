package analysis

import (
	"context"
	"encoding/xml"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/osm"
)

// maxComments bounds what one discussion may store.
const maxComments = 500

// FetchDiscussion reads a changeset's discussion from the OSM API
// (changeset/ID?include_discussion=true): the replication feed counts comments, never their
// text. The API client applies its own limits on the body.
func FetchDiscussion(ctx context.Context, api Downloader, id int64) ([]*osm.ChangesetComment, error) {
	path := fmt.Sprintf("changeset/%d?include_discussion=true", id)
	body, err := api.Get(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("changeset %d: discussion: %w", id, err)
	}
	var o osm.OSM
	if err := xml.Unmarshal(body, &o); err != nil {
		return nil, fmt.Errorf("changeset %d: GET %s: %w", id, path, err)
	}
	if len(o.Changesets) != 1 || int64(o.Changesets[0].ID) != id {
		return nil, fmt.Errorf("changeset %d: GET %s: not that changeset", id, path)
	}
	var out []*osm.ChangesetComment
	if d := o.Changesets[0].Discussion; d != nil {
		out = d.Comments
	}
	if len(out) > maxComments {
		out = out[:maxComments]
	}
	return out, nil
}

// writeDiscussion replaces a changeset's comments in tx.
func writeDiscussion(ctx context.Context, tx pgx.Tx, id int64, cs []*osm.ChangesetComment) error {
	if _, err := tx.Exec(ctx, `DELETE FROM changeset_comments WHERE changeset_id = $1`, id); err != nil {
		return fmt.Errorf("analyse: changeset %d: discussion: %w", id, err)
	}
	for i, c := range cs {
		if c == nil || c.Timestamp.IsZero() {
			continue
		}
		text := c.Text
		if len(text) > 10000 {
			text = text[:10000]
		}
		if _, err := tx.Exec(ctx, `INSERT INTO changeset_comments (changeset_id, idx, uid, username, created_at, text) VALUES ($1, $2, nullif($3, 0), nullif($4, ''), $5, $6)`,
			id, i, int64(c.UserID), c.User, c.Timestamp.UTC(), text); err != nil {
			return fmt.Errorf("analyse: changeset %d: discussion: %w", id, err)
		}
	}
	return nil
}

// discussion fetches and stores a changeset's discussion when it has comments and the API
// can be asked (a failure is logged, not the analysis's failure: the discussion is context).
func (w *Worker) discussion(ctx context.Context, tx pgx.Tx, m Meta) error {
	dl, ok := w.API.(Downloader)
	if m.CommentsCount <= 0 || !ok {
		return nil
	}
	cs, err := FetchDiscussion(ctx, dl, m.ID)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.Log.Warn("discussion unavailable", "changeset", m.ID, "err", err)
		return nil
	}
	return writeDiscussion(ctx, tx, m.ID, cs)
}
