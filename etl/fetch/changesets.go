package fetch

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/replication"
)

// parseChangesets decodes a changeset replication file (<osm> with <changeset> children) with
// the one changeset-XML parser; every changeset of the feed has a created_at.
func parseChangesets(data []byte) ([]changeset.Meta, error) {
	list, err := changeset.DecodeFeed(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		if c.CreatedAt == nil {
			return nil, fmt.Errorf("line %d: changeset %d has no created_at", c.Line, c.ID)
		}
	}
	return list, nil
}

// RunChangesets applies changeset replication files from the pointer up to head, within
// MaxFiles and MaxDuration. It keeps the metadata of changesets the diffs tracked and of those
// whose bbox intersects a region (all of them with no regions); both arrival orders (metadata
// before or after the elements) merge into the same row, and older files never overwrite the
// metadata of newer ones.
func (f *Fetcher) RunChangesets(ctx context.Context, o Options) (Result, error) {
	res, lim, ptr, head, last, err := f.begin(ctx, o, "changesets")
	if err != nil {
		return res, fmt.Errorf("changesets: %w", err)
	}
	if ptr.seq < last {
		res.From = ptr.seq + 1
	}
	for seq := ptr.seq + 1; seq <= last && lim.more(f.now()); seq++ {
		start := time.Now()
		url := f.Feed.DataURL(seq)
		n, kept, err := f.applyChangesetFile(ctx, o, seq, head)
		if err != nil {
			return res, &SeqError{Feed: "changesets", Seq: seq, URL: url, Err: err}
		}
		lim.n++
		res.Applied++
		res.Pointer = seq
		f.Metrics.Point(ctx, "changeset_replication", map[string]string{"pointer": o.Pointer}, map[string]any{
			"seq":                int64(seq),
			"head_seq":           int64(head.Seq),
			"changesets":         n,
			"changesets_kept":    kept,
			"processing_seconds": time.Since(start).Seconds(),
		}, f.now())
		f.log().Info("changeset file applied", "seq", seq, "changesets", n, "kept", kept)
	}
	return res, nil
}

// changesetFileTime is the replication time of changeset file seq, which becomes the pointer's
// seq_timestamp: the head's last_run (state.yaml) for the head file, else the last_run of the
// file's own state (AAA/BBB/CCC.state.txt, which planet.openstreetmap.org publishes next to each
// file from sequence 2007990 on and paulmach/osm's replication.ChangesetState reads). A file
// without a state file (the oldest ones) is applied with no timestamp.
func (f *Fetcher) changesetFileTime(ctx context.Context, seq uint64, head replication.State) (time.Time, error) {
	if seq == head.Seq {
		if err := f.checkFuture(head.Timestamp); err != nil {
			return time.Time{}, err
		}
		return head.Timestamp, nil
	}
	st, err := f.Feed.State(ctx, seq, 0) // head 0: a missing state file is not waited for
	if replication.IsNotFound(err) {
		f.log().Debug("changeset file has no state file", "seq", seq, "url", f.Feed.StateURL(seq))
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if err := f.checkFuture(st.Timestamp); err != nil {
		return time.Time{}, err
	}
	return st.Timestamp, nil
}

func (f *Fetcher) applyChangesetFile(ctx context.Context, o Options, seq uint64, head replication.State) (int, int, error) {
	body, err := f.Feed.Data(ctx, seq, head.Seq)
	if err != nil {
		return 0, 0, err
	}
	ts, err := f.changesetFileTime(ctx, seq, head)
	if err != nil {
		return 0, 0, err
	}
	raw, err := gunzip(body, f.Limits.MaxUncompressedBytes)
	if err != nil {
		return 0, 0, err
	}
	list, err := parseChangesets(raw)
	if err != nil {
		return 0, 0, fmt.Errorf("parse: %w", err)
	}
	list = lastEntries(list)
	ids := make([]int64, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	kept := 0
	err = pgx.BeginFunc(ctx, f.DB, func(tx pgx.Tx) error {
		var known map[int64]bool
		if len(f.Regions) > 0 {
			if known, err = knownChangesets(ctx, tx, ids); err != nil {
				return err
			}
		}
		keep := f.keepMeta(list, known)
		kept = len(keep)
		if err := writeMeta(ctx, tx, keep, seq); err != nil {
			return err
		}
		return movePointer(ctx, tx, o.Pointer, seq, ts)
	})
	return len(ids), kept, err
}

// lastEntries is the last entry of each changeset in a file, by id.
func lastEntries(list []changeset.Meta) []changeset.Meta {
	byID := make(map[int64]changeset.Meta, len(list))
	for _, c := range list {
		byID[c.ID] = c
	}
	out := make([]changeset.Meta, 0, len(byID))
	for _, c := range byID {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// knownChangesets are those of ids the changesets table has.
func knownChangesets(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]bool, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM changesets WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("look up changesets: %w", err)
	}
	defer rows.Close()
	known := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("look up changesets: %w", err)
		}
		known[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up changesets: %w", err)
	}
	return known, nil
}

// keepMeta is the metadata fetch keeps: with regions, of the changesets the table has (the
// diffs tracked them) and of those whose bbox intersects a region; without, all.
func (f *Fetcher) keepMeta(list []changeset.Meta, known map[int64]bool) []changeset.Meta {
	if len(f.Regions) == 0 {
		return list
	}
	var keep []changeset.Meta
	for _, c := range list {
		if known[c.ID] || c.Bound != nil && f.intersects(*c.Bound) {
			keep = append(keep, c)
		}
	}
	return keep
}

// writeMeta writes the metadata of a changeset file (sequence seq): a newer file's metadata is
// never overwritten by an older one's.
func writeMeta(ctx context.Context, tx pgx.Tx, list []changeset.Meta, seq uint64) error {
	if len(list) == 0 {
		return nil
	}
	var (
		kid               []int64
		users             []*string
		uids              []*int64
		created           []time.Time
		closed            []*time.Time
		open              []bool
		comments, changes []*int32
		tags              []string
		x0, y0, x1, y1    []*float64
	)
	for i := range list {
		c := &list[i]
		kid = append(kid, c.ID)
		if c.User != "" {
			u := c.User
			users = append(users, &u)
		} else {
			users = append(users, nil)
		}
		uids = append(uids, c.UID)
		created = append(created, *c.CreatedAt)
		closed = append(closed, c.ClosedAt)
		open = append(open, c.Open)
		comments = append(comments, i32(c.CommentsCount))
		changes = append(changes, i32(c.ChangesCount))
		tags = append(tags, tagsJSON(c.Tags))
		if b := c.Bound; b != nil {
			x0, y0, x1, y1 = append(x0, &b.Min[0]), append(y0, &b.Min[1]), append(x1, &b.Max[0]), append(y1, &b.Max[1])
		} else {
			x0, y0, x1, y1 = append(x0, nil), append(y0, nil), append(x1, nil), append(y1, nil)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changesets AS c (id, username, uid, created_at, closed_at, open, comments_count,
			changes_count, tags, bbox, meta_seq, meta_updated_at)
		SELECT id, un, uid, ca, cl, op, cc, ch, tg::jsonb,
			CASE WHEN x0 IS NULL THEN NULL ELSE ST_MakeEnvelope(x0, y0, x1, y1, 4326) END, $14, now()
		FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::bool[],
			$7::int[], $8::int[], $9::text[], $10::float8[], $11::float8[], $12::float8[], $13::float8[])
			AS u(id, un, uid, ca, cl, op, cc, ch, tg, x0, y0, x1, y1)
		ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, uid = EXCLUDED.uid,
			created_at = EXCLUDED.created_at, closed_at = EXCLUDED.closed_at, open = EXCLUDED.open,
			comments_count = EXCLUDED.comments_count, changes_count = EXCLUDED.changes_count,
			tags = EXCLUDED.tags, bbox = EXCLUDED.bbox, meta_seq = EXCLUDED.meta_seq,
			meta_updated_at = EXCLUDED.meta_updated_at, updated_at = now(),
			-- A changeset filtered before its metadata arrived (filter.metadata_wait) is
			-- filtered again now that its tags, user and bbox are known.
			state = CASE WHEN c.meta_seq IS NULL AND c.state IN ('filtered', 'dropped', 'analysed', 'done')
				THEN 'new' ELSE c.state END
		WHERE c.meta_seq IS NULL OR c.meta_seq <= EXCLUDED.meta_seq`,
		kid, users, uids, created, closed, open, comments, changes, tags, x0, y0, x1, y1, int64(seq)); err != nil {
		return fmt.Errorf("write changesets: %w", err)
	}
	return nil
}

// tagsJSON is a JSON object of the tags, keys sorted.
func tagsJSON(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tb := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			tb = append(tb, ',')
		}
		tb = elements.AppendJSONString(tb, k)
		tb = append(tb, ':')
		tb = elements.AppendJSONString(tb, tags[k])
	}
	return string(append(tb, '}'))
}

func i32(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

func (f *Fetcher) intersects(b orb.Bound) bool {
	for _, r := range f.Regions {
		if r.IntersectsBound(b) {
			return true
		}
	}
	return false
}
