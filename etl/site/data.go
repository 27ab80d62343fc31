package site

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// row is one changeset as publish reads it: metadata, pipeline state, labels and analysis.
type row struct {
	ID            int64
	User          string
	UID           int64
	CreatedAt     *time.Time
	ClosedAt      *time.Time
	Open          *bool
	CommentsCount *int
	ChangesCount  *int
	Tags          map[string]string
	BBox          *[4]float64
	NumCreate     int
	NumModify     int
	NumDelete     int
	State         string
	StateReason   string
	Error         string
	Attempts      int
	NextAttemptAt *time.Time
	UpdatedAt     time.Time
	Time          time.Time // created_at, or first_seen without metadata
	Labels        []labelRow

	HasAnalysis bool
	Complete    bool
	Reasons     []string
	AnalysedAt  *time.Time
	Doc         []byte

	Comments []commentRow // the discussion, oldest first
	Version  string       // rowVersion

	// Sum fingerprints everything the pages show of this row (not updated_at nor analysed_at):
	// a row whose Sum equals the previous build's did not change, whatever its timestamps say.
	Sum uint64
}

// commentRow is one comment of a changeset's discussion.
type commentRow struct {
	User string    `json:"u"`
	UID  int64     `json:"uid"`
	Time time.Time `json:"t"`
	Text string    `json:"x"`
}

type labelRow struct {
	Label    string          `json:"label"`
	Source   string          `json:"source"`
	Evidence json.RawMessage `json:"evidence"`
}

// windowWhere selects the changesets the site shows: those of the last $1 days that filter
// kept (waiting for analysis, analysed, done, failed) and the ones being filtered again after
// an analysis.
const windowWhere = `coalesce(c.created_at, c.first_seen) >= $1
  AND (c.state IN ('filtered', 'analysed', 'done', 'failed') OR (c.state = 'new' AND EXISTS (SELECT 1 FROM analyses x WHERE x.changeset_id = c.id)))`

const rowColumns = `c.id, coalesce(c.username, ''), coalesce(c.uid, 0), c.created_at, c.closed_at, c.open,
  c.comments_count, c.changes_count, c.tags::text,
  CASE WHEN c.bbox IS NULL THEN NULL ELSE ARRAY[ST_XMin(c.bbox), ST_YMin(c.bbox), ST_XMax(c.bbox), ST_YMax(c.bbox)] END,
  c.num_create, c.num_modify, c.num_delete, c.state, coalesce(c.state_reason, ''), coalesce(c.error, ''),
  c.attempts, c.next_attempt_at, c.updated_at, coalesce(c.created_at, c.first_seen),
  (SELECT coalesce(json_agg(json_build_object('label', l.label, 'source', l.source, 'evidence', l.evidence) ORDER BY l.label), '[]')
     FROM changeset_labels l WHERE l.changeset_id = c.id)::text,
  a.changeset_id IS NOT NULL, coalesce(a.complete, false), coalesce(a.reasons, '{}'), a.analysed_at, a.doc::text,
  (SELECT coalesce(json_agg(json_build_object('u', coalesce(k.username, ''), 'uid', coalesce(k.uid, 0), 't', k.created_at, 'x', k.text) ORDER BY k.idx), '[]')
     FROM changeset_comments k WHERE k.changeset_id = c.id)::text,
  ` + rowVersion

// snapshot reads everything of one publish run in one read-only repeatable-read transaction,
// so that the pages agree with each other.
type snapshot struct {
	tx  pgx.Tx
	now time.Time
}

func beginSnapshot(ctx context.Context, db DB) (*snapshot, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("publish: begin snapshot: %w", err)
	}
	s := &snapshot{tx: tx}
	// No JIT: the window query over 150,000 changesets costs enough for PostgreSQL to compile
	// it, and compiling took 0.55–0.63 s of every run (more than running it saves); publish's
	// queries are simple scans and joins.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		tx.Rollback(ctx)
		return nil, fmt.Errorf("publish: begin snapshot: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&s.now); err != nil {
		tx.Rollback(ctx)
		return nil, fmt.Errorf("publish: snapshot time: %w", err)
	}
	s.now = s.now.UTC()
	return s, nil
}

func (s *snapshot) close(ctx context.Context) { s.tx.Rollback(context.WithoutCancel(ctx)) }

// rowVersion identifies the stored versions of everything a changeset's pages show: the
// transaction ids (xmin) of its changesets, analyses, changeset_labels and changeset_comments
// rows. Any UPDATE, INSERT or DELETE of one of them changes it; reading it does not read the
// documents.
const rowVersion = `c.xmin::text || '/' || coalesce(a.xmin::text, '-') || '/' ||
  coalesce((SELECT string_agg(l.xmin::text || l.label, ',' ORDER BY l.label) FROM changeset_labels l WHERE l.changeset_id = c.id), '-') || '/' ||
  coalesce((SELECT string_agg(k.xmin::text, ',' ORDER BY k.idx) FROM changeset_comments k WHERE k.changeset_id = c.id), '-')`

// updatedAt is when a changeset last changed: its row, or its analysis.
const updatedAt = `greatest(c.updated_at, coalesce(a.analysed_at, c.updated_at))`

// windowEntry is a changeset in the window: when it last changed and its row version.
type windowEntry struct {
	Updated time.Time
	Version string
}

// windowIDs lists the changesets in the window with their updated_at, and the row version of
// those updated after since (the others are unchanged whatever their version: PostgreSQL does
// not run rowVersion's subqueries for them, which at 150,000 changesets is most of the query).
func (s *snapshot) windowIDs(ctx context.Context, cutoff, since time.Time) (map[int64]windowEntry, error) {
	rows, err := s.tx.Query(ctx, `SELECT c.id, `+updatedAt+`, CASE WHEN `+updatedAt+` > $2 THEN `+rowVersion+` ELSE '' END
		FROM changesets c LEFT JOIN analyses a ON a.changeset_id = c.id WHERE `+windowWhere, cutoff, since)
	if err != nil {
		return nil, fmt.Errorf("publish: list changesets: %w", err)
	}
	defer rows.Close()
	out := map[int64]windowEntry{}
	for rows.Next() {
		var id int64
		var w windowEntry
		if err := rows.Scan(&id, &w.Updated, &w.Version); err != nil {
			return nil, fmt.Errorf("publish: list changesets: %w", err)
		}
		out[id] = w
	}
	return out, rows.Err()
}

// windowChange is a changeset whose row (or analysis) changed after the previous run's
// snapshot minus the overlap: its update time, row version, and whether it is in the window.
type windowChange struct {
	windowEntry
	In bool
}

// windowChanges are the changesets that changed since the previous run, by id.
type windowChanges map[int64]windowChange

// changedSince lists the changesets that changed after since, in the window or not (an index
// scan of changesets.updated_at and analyses.analysed_at), and counts the changesets in the
// window. With the previous run's entries that tells where every changeset is (window), and
// the count checks it: a changeset deleted since, or that left the window without its row
// changing, makes the counts differ (the caller then lists the window with windowIDs).
func (s *snapshot) changedSince(ctx context.Context, cutoff, since time.Time) (windowChanges, int, error) {
	rows, err := s.tx.Query(ctx, `SELECT c.id, `+updatedAt+`, `+rowVersion+`, (`+windowWhere+`)
		FROM changesets c LEFT JOIN analyses a ON a.changeset_id = c.id
		WHERE c.id IN (SELECT id FROM changesets WHERE updated_at > $2 UNION SELECT changeset_id FROM analyses WHERE analysed_at > $2)`, cutoff, since)
	if err != nil {
		return nil, 0, fmt.Errorf("publish: list changed changesets: %w", err)
	}
	changes := windowChanges{}
	for rows.Next() {
		var id int64
		var c windowChange
		if err := rows.Scan(&id, &c.Updated, &c.Version, &c.In); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("publish: list changed changesets: %w", err)
		}
		changes[id] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("publish: list changed changesets: %w", err)
	}
	var n int64
	// Without the join to analyses: a join of every changeset with its analysis costs three
	// times the count.
	if err := s.tx.QueryRow(ctx, `SELECT count(*) FROM changesets c WHERE `+windowWhere, cutoff).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("publish: count changesets: %w", err)
	}
	return changes, int(n), nil
}

// window tells for each changeset of the previous run whether it is in the window, with its
// update time and row version: a changed one as changedSince read it, an unchanged one when
// its time is not before cutoff (its update time is then at most since). newIDs are the
// changed ones in the window that prev does not have.
func (c windowChanges) window(prev map[int64]*Entry, cutoff, since time.Time) (inWindow func(id int64, pe *Entry) (windowEntry, bool), newIDs []int64) {
	for id, ch := range c {
		if ch.In && prev[id] == nil {
			newIDs = append(newIDs, id)
		}
	}
	return func(id int64, pe *Entry) (windowEntry, bool) {
		if ch, ok := c[id]; ok {
			return ch.windowEntry, ch.In
		}
		return windowEntry{Updated: since}, !pe.Time.Before(cutoff)
	}, newIDs
}

// eachRow streams the changesets in the window (all of them when ids is nil, else those in
// ids) to fn.
func (s *snapshot) eachRow(ctx context.Context, cutoff time.Time, ids []int64, fn func(*row) error) error {
	q := `SELECT ` + rowColumns + ` FROM changesets c LEFT JOIN analyses a ON a.changeset_id = c.id WHERE ` + windowWhere
	args := []any{cutoff}
	if ids != nil {
		q += ` AND c.id = ANY($2)`
		args = append(args, ids)
	}
	rows, err := s.tx.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("publish: read changesets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r := &row{}
		// Text columns straight into byte slices: the JSON decoders want bytes, and a string
		// first would copy each document once more.
		var tags, labels, comments []byte
		var bbox []float64
		if err := rows.Scan(&r.ID, &r.User, &r.UID, &r.CreatedAt, &r.ClosedAt, &r.Open, &r.CommentsCount, &r.ChangesCount,
			&tags, &bbox, &r.NumCreate, &r.NumModify, &r.NumDelete, &r.State, &r.StateReason, &r.Error,
			&r.Attempts, &r.NextAttemptAt, &r.UpdatedAt, &r.Time, &labels,
			&r.HasAnalysis, &r.Complete, &r.Reasons, &r.AnalysedAt, &r.Doc, &comments, &r.Version); err != nil {
			return fmt.Errorf("publish: read changesets: %w", err)
		}
		r.Sum = newFingerprint("comments").u64(rowSum(r, tags, labels)).bytes(comments).sum()
		if err := json.Unmarshal(comments, &r.Comments); err != nil {
			return fmt.Errorf("publish: changeset %d: discussion: %w", r.ID, err)
		}
		r.Tags = stringMap(tags)
		if len(bbox) == 4 {
			r.BBox = &[4]float64{bbox[0], bbox[1], bbox[2], bbox[3]}
		}
		if err := json.Unmarshal(labels, &r.Labels); err != nil {
			return fmt.Errorf("publish: changeset %d: labels: %w", r.ID, err)
		}
		r.Time = r.Time.UTC()
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("publish: read changesets: %w", err)
	}
	return nil
}

// rowSum fingerprints a row as read (before decoding) except its timestamps of change.
func rowSum(r *row, tags, labels []byte) uint64 {
	f := newFingerprint("row").u64(uint64(r.ID)).str(r.User).u64(uint64(r.UID))
	t := func(p *time.Time) {
		if p == nil {
			f.str("-")
		} else {
			f.str(p.UTC().Format(time.RFC3339Nano))
		}
	}
	i := func(p *int) {
		if p == nil {
			f.str("-")
		} else {
			f.u64(uint64(*p))
		}
	}
	t(r.CreatedAt)
	t(r.ClosedAt)
	t(r.NextAttemptAt)
	open := "-"
	if r.Open != nil {
		open = fmt.Sprint(*r.Open)
	}
	bbox := "-"
	if r.BBox != nil {
		bbox = fmt.Sprint(*r.BBox)
	}
	f.str(fmt.Sprint(open, bbox, r.HasAnalysis, r.Complete, r.Reasons))
	i(r.CommentsCount)
	i(r.ChangesCount)
	f.u64(uint64(r.NumCreate)).u64(uint64(r.NumModify)).u64(uint64(r.NumDelete)).u64(uint64(r.Attempts))
	f.str(r.State).str(r.StateReason).str(r.Error).str(r.Time.UTC().Format(time.RFC3339Nano))
	f.bytes(tags).bytes(labels).bytes(r.Doc)
	return f.sum()
}

// stringMap decodes a JSON object leniently: values that are not strings are kept as their JSON.
func stringMap(p []byte) map[string]string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(p, &raw) != nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	return out
}
