package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/rules"
)

// APIStats is what an API client reports about itself (*osmapi.Client does).
type APIStats interface {
	Stats() (requests, bytes, retries int64)
}

// Worker is the analyse step: it claims changesets with FOR UPDATE SKIP LOCKED (so several
// pods share the work), analyses each under a deadline, and writes analyses, analyse labels
// and the changeset's state.
type Worker struct {
	DB      *pgxpool.Pool
	Config  config.Analyse
	API     API        // nil: no network (before-states from the store only)
	Users   Users      // nil: no user lookups
	Rules   *rules.Set // nil: no analysis-time labels
	Log     *slog.Logger
	Metrics *metrics.Recorder
	Now     func() time.Time
	// Limit stops after this many changesets (0: until none is left or max_duration passed).
	Limit int
}

// RunStats counts a run's work.
type RunStats struct {
	Analysed    int // documents written
	Done        int // of which the changeset is now done
	Incomplete  int // of which the document is incomplete
	Failed      int
	Downloads   int // changeset downloads requested (changeset/ID/download), whatever they answered
	APIRequests int64
	APIBytes    int64
}

// claimSQL picks one changeset to analyse: filtered ones; analysed ones that received
// elements, metadata or a close since their analysis; failed ones whose retry is due.
const claimSQL = `
SELECT c.id, coalesce(c.username, ''), coalesce(c.uid, 0), c.created_at, c.closed_at, coalesce(c.open, false),
       coalesce(c.comments_count, 0), coalesce(c.changes_count, 0), c.tags,
       ST_XMin(c.bbox), ST_YMin(c.bbox), ST_XMax(c.bbox), ST_YMax(c.bbox), c.last_seq, c.attempts,
       c.meta_updated_at IS NOT NULL OR c.created_at IS NOT NULL, c.meta_seq IS NOT NULL OR c.meta_updated_at IS NOT NULL,
       c.num_create, c.num_modify, c.num_delete,
       c.download_at, c.download_status
FROM changesets c LEFT JOIN analyses a ON a.changeset_id = c.id
WHERE (c.state = 'filtered'
   OR (c.state = 'analysed' AND (a.changeset_id IS NULL
        OR coalesce(c.last_seq, 0) > coalesce(a.analysed_seq, 0)
        OR c.meta_updated_at > a.analysed_at
        OR (c.open IS FALSE AND c.closed_at IS NOT NULL AND a.analysed_at < c.closed_at)))
   OR (c.state = 'failed' AND c.attempts < $1 AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= now())))
  AND NOT (c.id = ANY(coalesce($2::bigint[], '{}')))
ORDER BY c.state = 'failed', c.id
LIMIT 1
FOR UPDATE OF c SKIP LOCKED`

// Run analyses changesets until none is left, Limit is reached or analyse.max_duration has
// passed. A changeset whose analysis fails becomes 'failed' (with the error; retried with
// backoff up to analyse.max_attempts); Run itself fails only on database errors.
func (w *Worker) Run(ctx context.Context) (st RunStats, err error) {
	var tried []int64 // failed in this run: not claimed again before the next run
	if w.Log == nil {
		w.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	start := time.Now()
	var req0, bytes0 int64
	if s, ok := w.API.(APIStats); ok {
		req0, bytes0, _ = s.Stats()
	}
	defer func() {
		if s, ok := w.API.(APIStats); ok {
			r, b, _ := s.Stats()
			st.APIRequests, st.APIBytes = r-req0, b-bytes0
		}
		w.Metrics.Point(context.WithoutCancel(ctx), "analyse", nil, map[string]any{
			"analysed": st.Analysed, "done": st.Done, "incomplete": st.Incomplete, "failed": st.Failed,
			"downloads": st.Downloads, "api_requests": st.APIRequests, "api_bytes": st.APIBytes, "duration_seconds": time.Since(start).Seconds(),
		}, time.Now())
	}()
	maxDur := time.Duration(w.Config.MaxDuration)
	for n := 0; w.Limit == 0 || n < w.Limit; n++ {
		if maxDur > 0 && time.Since(start) > maxDur {
			w.Log.Info("max_duration reached; the rest waits for the next run", "max_duration", maxDur)
			break
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		found, err := w.one(ctx, &st, &tried)
		if err != nil {
			return st, err
		}
		if !found {
			break
		}
	}
	return st, nil
}

// claim is one changeset claimed for analysis.
type claim struct {
	meta      Meta
	rules     changeset.Meta // what the rules see of its metadata (as filter reads it)
	metaKnown bool           // metadata known (else treated as open)
	lastSeq   *int64
	attempts  int
	prior     *Download // the download recorded by an earlier attempt
}

// claimOne locks the next changeset to analyse (nil: none) and reads its metadata.
func claimOne(ctx context.Context, tx pgx.Tx, maxAttempts int, tried []int64) (*claim, error) {
	var (
		c              claim
		m              = &c.meta
		tags           []byte
		x0, y0, x1, y1 *float64
		rulesKnown     bool
		nc, nm, nd     int
		dlAt           *time.Time
		dlStatus       *int
	)
	err := tx.QueryRow(ctx, claimSQL, maxAttempts, tried).Scan(&m.ID, &m.User, &m.UID, &m.CreatedAt, &m.ClosedAt, &m.Open,
		&m.CommentsCount, &m.ChangesCount, &tags, &x0, &y0, &x1, &y1, &c.lastSeq, &c.attempts, &c.metaKnown, &rulesKnown,
		&nc, &nm, &nd, &dlAt, &dlStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("analyse: claim: %w", err)
	}
	if err := json.Unmarshal(tags, &m.Tags); err != nil {
		return nil, fmt.Errorf("analyse: changeset %d: tags: %w", m.ID, err)
	}
	if x0 != nil && y0 != nil && x1 != nil && y1 != nil {
		m.BBox = &[4]float64{*x0, *y0, *x1, *y1}
	}
	for _, t := range []**time.Time{&m.CreatedAt, &m.ClosedAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	m.DiffTotal = nc + nm + nd
	var counts map[string]int
	if m.DiffTotal > 0 {
		counts = map[string]int{"create": nc, "modify": nm, "delete": nd}
	}
	c.rules = RulesMeta(*m, rulesKnown, counts)
	if !c.metaKnown {
		m.Open = true // nothing known yet: treat as open
		m.ChangesCount = 0
	}
	if dlAt != nil && dlStatus != nil {
		c.prior = &Download{At: dlAt.UTC(), Status: *dlStatus}
	}
	return &c, nil
}

// one claims and analyses one changeset; found is false when there was none to claim.
func (w *Worker) one(ctx context.Context, st *RunStats, tried *[]int64) (found bool, err error) {
	tx, err := w.DB.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("analyse: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	c, err := claimOne(ctx, tx, w.Config.MaxAttempts, *tried)
	if c == nil {
		return err != nil, err
	}
	m, lastSeq, metaKnown, prior := c.meta, c.lastSeq, c.metaKnown, c.prior
	log := w.Log.With("changeset", m.ID)
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, time.Duration(w.Config.ChangesetDeadline))
	doc, stats, aerr := w.analyse(cctx, tx, m, c.rules, prior)
	cancel()
	if aerr != nil && ctx.Err() != nil {
		return true, ctx.Err() // interrupted: the claim is released untouched
	}
	if d := stats.Download; d != nil {
		// Recorded with the failure or the analysis (same transaction as the versions the
		// download added), so that a changeset is not downloaded twice.
		st.Downloads++
		if _, err := tx.Exec(ctx, `UPDATE changesets SET download_at = $2, download_status = $3 WHERE id = $1`, m.ID, d.At, d.Status); err != nil {
			return true, fmt.Errorf("analyse: changeset %d: record download: %w", m.ID, err)
		}
	}
	if aerr != nil {
		if err := w.fail(ctx, tx, c, aerr); err != nil {
			return true, err
		}
		st.Failed++
		*tried = append(*tried, m.ID)
		return true, nil
	}
	state := "analysed"
	if metaKnown && !m.Open && m.ClosedAt != nil {
		state = "done"
	}
	if err := w.write(ctx, tx, m, doc, lastSeq, state); err != nil {
		return true, err
	}
	if err := w.discussion(ctx, tx, m); err != nil {
		return true, err
	}
	if err := tx.Commit(ctx); err != nil {
		return true, fmt.Errorf("analyse: changeset %d: commit: %w", m.ID, err)
	}
	st.Analysed++
	if state == "done" {
		st.Done++
	}
	if !doc.Complete {
		st.Incomplete++
	}
	log.Info("analysed", "state", state, "elements", doc.Counts.Total, "reasons", doc.ReasonCodes(), "complete", doc.Complete,
		"from_store", stats.FromStore, "from_api", stats.FromAPI, "missing", stats.Missing, "downloaded", stats.Download != nil, "seconds", time.Since(t0).Seconds())
	return true, nil
}

// fail records a failed analysis (retried with backoff up to analyse.max_attempts) and commits.
func (w *Worker) fail(ctx context.Context, tx pgx.Tx, c *claim, aerr error) error {
	id := c.meta.ID
	backoff := time.Duration(w.Config.RetryBackoff) << min(c.attempts, 20)
	msg := aerr.Error()
	if errors.Is(aerr, context.DeadlineExceeded) {
		msg = fmt.Sprintf("analysis exceeded the deadline of %s: %s", time.Duration(w.Config.ChangesetDeadline), msg)
	}
	if _, err := tx.Exec(ctx, `UPDATE changesets SET state = 'failed', error = $2, attempts = attempts + 1,
		next_attempt_at = now() + $3::interval, updated_at = now() WHERE id = $1`, id, msg, fmt.Sprintf("%d milliseconds", backoff.Milliseconds())); err != nil {
		return fmt.Errorf("analyse: changeset %d: record failure: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("analyse: changeset %d: commit failure: %w", id, err)
	}
	level := slog.LevelWarn
	if c.attempts+1 >= w.Config.MaxAttempts {
		level = slog.LevelError
		msg += " (no attempts left)"
	}
	w.Log.Log(ctx, level, "analysis failed", "changeset", id, "err", msg, "attempt", c.attempts+1, "max_attempts", w.Config.MaxAttempts)
	return nil
}

// analyse reads and writes through tx, the claim's transaction: the versions a download adds and
// the users it caches commit with the analysis, its failure or its download status, or not at
// all (a kill leaves the changeset as it was claimed).
func (w *Worker) analyse(ctx context.Context, tx pgx.Tx, m Meta, rm changeset.Meta, prior *Download) (*Document, Stats, error) {
	ps := &PGStore{DB: tx}
	elems, err := ps.ChangesetElements(ctx, m.ID)
	if err != nil {
		return nil, Stats{}, err
	}
	a := &Analyzer{Config: w.Config, Store: ps, API: w.API, Users: w.Users, UserCache: ps, Log: w.Log, Now: w.Now}
	doc, st, err := a.Analyse(ctx, Input{Meta: m, Elems: elems, Download: prior})
	if err != nil {
		return nil, st, err
	}
	if w.Rules != nil && len(w.Rules.Pending()) > 0 {
		// The rules see what filter and `rules test` build (changeset.Build), read from the
		// store as it now holds the changeset (a download's versions included), with the reasons.
		// Without rules that need the analysis there is nothing to build.
		css, err := changeset.Build(ctx, elements.PG{DB: tx}, w.Rules.Regions(), []changeset.Meta{rm})
		if err != nil {
			return nil, st, fmt.Errorf("rules: %w", err)
		}
		css[0].Reasons = doc.ReasonCodes()
		doc.labels, _ = w.Rules.Evaluate(css[0], rules.PhaseAnalyse)
	}
	return doc, st, nil
}

// RulesMeta is the metadata the rules see of a claimed changeset, as filter reads it: nothing
// but the id and the diffs' counts when no metadata is known.
func RulesMeta(m Meta, known bool, counts map[string]int) changeset.Meta {
	rm := changeset.Meta{ID: m.ID, Known: known, Counts: counts}
	if !known {
		return rm
	}
	rm.User, rm.Open, rm.Tags = m.User, m.Open, m.Tags
	rm.CreatedAt, rm.ClosedAt = m.CreatedAt, m.ClosedAt
	uid, comments, changes := m.UID, m.CommentsCount, m.ChangesCount
	rm.UID, rm.CommentsCount, rm.ChangesCount = &uid, &comments, &changes
	if m.BBox != nil {
		rm.Bound = &orb.Bound{Min: orb.Point{m.BBox[0], m.BBox[1]}, Max: orb.Point{m.BBox[2], m.BBox[3]}}
	}
	return rm
}

// DocGeometry is the geometry stored in analyses.geom: what the changeset left (after states)
// and what it deleted (before states); nil when empty.
func DocGeometry(d *Document) orb.Geometry {
	if d.Geometry == nil {
		return nil
	}
	var c orb.Collection
	for _, f := range d.Geometry.Features {
		if f.Properties["state"] == "after" || f.Properties["action"] == "delete" {
			c = append(c, f.Geometry)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c
}

func (w *Worker) write(ctx context.Context, tx pgx.Tx, m Meta, doc *Document, lastSeq *int64, state string) error {
	body, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("analyse: changeset %d: encode document: %w", m.ID, err)
	}
	var geom any
	if g := DocGeometry(doc); g != nil {
		gj, err := json.Marshal(geojson.NewGeometry(g))
		if err != nil {
			return fmt.Errorf("analyse: changeset %d: encode geometry: %w", m.ID, err)
		}
		geom = string(gj)
	}
	var incomplete any
	if doc.Incomplete != "" {
		incomplete = doc.Incomplete
	}
	if _, err := tx.Exec(ctx, `INSERT INTO analyses (changeset_id, schema_version, doc, complete, reasons, geom, analysed_seq, analysed_at, incomplete)
		VALUES ($1, $2, $3::jsonb, $4, $5, ST_SetSRID(ST_GeomFromGeoJSON($6::text), 4326), $7, now(), $8)
		ON CONFLICT (changeset_id) DO UPDATE SET schema_version = EXCLUDED.schema_version, doc = EXCLUDED.doc, complete = EXCLUDED.complete,
			reasons = EXCLUDED.reasons, geom = EXCLUDED.geom, analysed_seq = EXCLUDED.analysed_seq, analysed_at = now(), incomplete = EXCLUDED.incomplete`,
		m.ID, doc.SchemaVersion, string(body), doc.Complete, doc.ReasonCodes(), geom, lastSeq, incomplete); err != nil {
		return fmt.Errorf("analyse: changeset %d: write analysis: %w", m.ID, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM changeset_labels WHERE changeset_id = $1 AND source = 'analyse'`, m.ID); err != nil {
		return fmt.Errorf("analyse: changeset %d: clear labels: %w", m.ID, err)
	}
	for _, l := range doc.labels {
		ev, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("analyse: changeset %d: encode label %s: %w", m.ID, l.Label, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO changeset_labels (changeset_id, label, source, evidence) VALUES ($1, $2, 'analyse', $3::jsonb)
			ON CONFLICT (changeset_id, label) DO NOTHING`, m.ID, l.Label, string(ev)); err != nil {
			return fmt.Errorf("analyse: changeset %d: write label %s: %w", m.ID, l.Label, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE changesets SET state = $2, analysed_at = now(), attempts = 0, error = NULL, next_attempt_at = NULL,
		updated_at = now() WHERE id = $1`, m.ID, state); err != nil {
		return fmt.Errorf("analyse: changeset %d: set state: %w", m.ID, err)
	}
	return nil
}
