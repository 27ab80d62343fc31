// Package filter is the filter step: it claims changesets that are ready (state 'new' with
// metadata, or first seen more than MetadataWait ago) in batches with FOR UPDATE SKIP LOCKED,
// so concurrent runs never take the same changeset, labels them with the rules (source
// 'filter', replacing the filter's earlier labels) and moves each to 'filtered' (goes to
// analysis) or 'dropped' (state_reason says why).
package filter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
)

// Options configure one run.
type Options struct {
	MetadataWait time.Duration // filter a changeset without metadata once first seen this long ago
	BatchSize    int           // changesets per transaction
	MaxDuration  time.Duration // stop claiming after this long (0: until nothing is left)
	// Refilter re-runs the rules on changesets already past 'new' created (or, without
	// metadata, first seen) at or after Since.
	Refilter bool
	Since    time.Time
}

// Stats counts what a run did.
type Stats struct {
	Filtered int // moved to (or kept in) filtered, or relabelled by a refilter
	Dropped  int // moved to dropped after the rules
	Outside  int // dropped without rules: not tracked and no bbox touching a region
	Labels   int // labels written
	Batches  int
}

// Total is the number of changesets handled.
func (s Stats) Total() int { return s.Filtered + s.Dropped + s.Outside }

// ReasonOutside is the state_reason of changesets dropped without evaluating the rules.
const ReasonOutside = "outside all regions: no edit kept and the bbox does not touch a region"

// Filter runs the step over a database with a rule set.
type Filter struct {
	DB    *pgxpool.Pool
	Rules *rules.Set
	Log   *slog.Logger
	Now   func() time.Time // for tests; time.Now when nil
}

// Run filters batches until none is left, MaxDuration has passed, or ctx ends.
func (f *Filter) Run(ctx context.Context, o Options) (Stats, error) {
	var st Stats
	if o.BatchSize < 1 {
		o.BatchSize = 200
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := now()
	env := envelopes(f.Rules.Regions())
	if !o.Refilter {
		n, err := f.dropOutside(ctx, o, env)
		if err != nil {
			return st, err
		}
		st.Outside = n
		if n > 0 {
			log.Info("dropped changesets outside all regions", "count", n)
		}
	}
	var after int64 // refilter walks ids upwards
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if o.MaxDuration > 0 && now().Sub(start) >= o.MaxDuration {
			log.Info("max duration reached; the rest waits for the next run", "max_duration", o.MaxDuration)
			return st, nil
		}
		n, last, err := f.batch(ctx, o, env, after, &st)
		if err != nil {
			return st, err
		}
		if n == 0 {
			return st, nil
		}
		st.Batches++
		after = last
	}
}

// regionEnvelopes are the regions' bounding boxes as arrays for SQL (nil: no regions).
type regionEnvelopes struct{ x0, y0, x1, y1 []float64 }

func envelopes(s region.Set) *regionEnvelopes {
	if len(s) == 0 {
		return nil
	}
	e := &regionEnvelopes{}
	for _, r := range s {
		b := r.Bound()
		e.x0, e.y0, e.x1, e.y1 = append(e.x0, b.Min[0]), append(e.y0, b.Min[1]), append(e.x1, b.Max[0]), append(e.y1, b.Max[1])
	}
	return e
}

const readyCond = `c.state = 'new' AND (c.meta_seq IS NOT NULL OR c.meta_updated_at IS NOT NULL OR c.first_seen <= now() - make_interval(secs => $1))`

const inRegionsCond = `($2::float8[] IS NULL OR c.tracked OR (c.bbox IS NOT NULL AND EXISTS (
	SELECT 1 FROM unnest($2::float8[], $3::float8[], $4::float8[], $5::float8[]) AS e(x0, y0, x1, y1)
	WHERE c.bbox && ST_MakeEnvelope(e.x0, e.y0, e.x1, e.y1, 4326))))`

func (o Options) waitSecs() float64 { return o.MetadataWait.Seconds() }

func envArgs(env *regionEnvelopes) []any {
	if env == nil {
		return []any{nil, nil, nil, nil}
	}
	return []any{env.x0, env.y0, env.x1, env.y1}
}

// dropOutside drops ready changesets that are neither tracked (no edit kept by fetch) nor have
// a bbox touching a region's bounding box: no rule about a region could match them.
func (f *Filter) dropOutside(ctx context.Context, o Options, env *regionEnvelopes) (int, error) {
	if env == nil {
		return 0, nil
	}
	args := append([]any{o.waitSecs()}, envArgs(env)...)
	args = append(args, ReasonOutside)
	tag, err := f.DB.Exec(ctx, `UPDATE changesets SET state = 'dropped', state_reason = $6, filtered_at = now(), updated_at = now()
		WHERE id IN (SELECT c.id FROM changesets c WHERE `+readyCond+` AND NOT `+inRegionsCond+`
			FOR UPDATE SKIP LOCKED)`, args...)
	if err != nil {
		return 0, fmt.Errorf("filter: drop changesets outside the regions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// claimed is one changeset claimed by a batch: its metadata and the state it had.
type claimed struct {
	meta  changeset.Meta
	state string
}

// batch claims, labels and moves one batch in one transaction: claim (SQL), build what the
// rules see (changeset.Build over the element store), decide (pure), write (SQL).
func (f *Filter) batch(ctx context.Context, o Options, env *regionEnvelopes, after int64, st *Stats) (int, int64, error) {
	tx, err := f.DB.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("filter: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	batch, err := claim(ctx, tx, o, env, after)
	if err != nil || len(batch) == 0 {
		return 0, 0, err
	}
	metas := make([]changeset.Meta, len(batch))
	states := make([]string, len(batch))
	for i, b := range batch {
		metas[i], states[i] = b.meta, b.state
	}
	css, err := changeset.Build(ctx, elements.PG{DB: tx}, f.Rules.Regions(), metas)
	if err != nil {
		return 0, 0, fmt.Errorf("filter: %w", err)
	}
	ds := Decide(f.Rules, css, states, o.Refilter)
	if err := write(ctx, tx, ds); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("filter: commit: %w", err)
	}
	for _, d := range ds {
		if d.State == "dropped" {
			st.Dropped++
		} else {
			st.Filtered++
		}
		st.Labels += len(d.Labels)
	}
	return len(batch), batch[len(batch)-1].meta.ID, nil
}

// claim locks the next batch of changesets (ready ones, or with Refilter those past 'new' above
// after) and reads their metadata and edit counts.
func claim(ctx context.Context, tx pgx.Tx, o Options, env *regionEnvelopes, after int64) ([]claimed, error) {
	const cols = `c.id, c.username, c.uid, c.created_at, c.closed_at, c.open, c.comments_count, c.changes_count, c.tags,
		ST_XMin(c.bbox), ST_YMin(c.bbox), ST_XMax(c.bbox), ST_YMax(c.bbox),
		(c.meta_seq IS NOT NULL OR c.meta_updated_at IS NOT NULL), c.num_create, c.num_modify, c.num_delete, c.state`
	var rows pgx.Rows
	var err error
	if o.Refilter {
		rows, err = tx.Query(ctx, `SELECT `+cols+` FROM changesets c
			WHERE c.state <> 'new' AND COALESCE(c.created_at, c.first_seen) >= $1 AND c.id > $2
			ORDER BY c.id LIMIT $3 FOR UPDATE SKIP LOCKED`, o.Since, after, o.BatchSize)
	} else {
		args := append([]any{o.waitSecs()}, envArgs(env)...)
		args = append(args, o.BatchSize)
		rows, err = tx.Query(ctx, `SELECT `+cols+` FROM changesets c WHERE `+readyCond+` AND `+inRegionsCond+`
			ORDER BY c.id LIMIT $6 FOR UPDATE SKIP LOCKED`, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("filter: claim: %w", err)
	}
	defer rows.Close()
	var batch []claimed
	for rows.Next() {
		var (
			c                 claimed
			m                 = &c.meta
			user              *string
			open              *bool
			comments, changes *int32
			x0, y0, x1, y1    *float64
			nc, nm, nd        int32
		)
		if err := rows.Scan(&m.ID, &user, &m.UID, &m.CreatedAt, &m.ClosedAt, &open, &comments, &changes, &m.Tags,
			&x0, &y0, &x1, &y1, &m.Known, &nc, &nm, &nd, &c.state); err != nil {
			return nil, fmt.Errorf("filter: claim: %w", err)
		}
		if user != nil {
			m.User = *user
		}
		if open != nil {
			m.Open = *open
		}
		m.CommentsCount, m.ChangesCount = intPtr(comments), intPtr(changes)
		if x0 != nil {
			m.Bound = &orb.Bound{Min: orb.Point{*x0, *y0}, Max: orb.Point{*x1, *y1}}
		}
		if nc+nm+nd > 0 {
			m.Counts = map[string]int{"create": int(nc), "modify": int(nm), "delete": int(nd)}
		}
		batch = append(batch, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("filter: claim: %w", err)
	}
	return batch, nil
}

func intPtr(p *int32) *int {
	if p == nil {
		return nil
	}
	v := int(*p)
	return &v
}

// Decision is what the filter decided for one changeset: its labels (source 'filter') and its
// next state with the reason.
type Decision struct {
	ID     int64
	Labels []rules.Label
	State  string // filtered, dropped, or (refilter) the state it keeps
	Reason string
}

// Decide evaluates the filter rules over changesets in the states they were claimed in. It is
// pure: no database, no clock. A changeset the prefilter passes goes to 'filtered', the others
// to 'dropped'; with refilter, analysed (or failed) changesets keep their state (only the
// labels change) and a dropped one that now passes goes to analysis (and back).
func Decide(set *rules.Set, css []*rules.Changeset, states []string, refilter bool) []Decision {
	out := make([]Decision, len(css))
	for i, cs := range css {
		labels, v := set.Evaluate(cs, rules.PhaseFilter)
		next := "dropped"
		if v.Analyse {
			next = "filtered"
		}
		if refilter && states[i] != "filtered" && states[i] != "dropped" {
			next = states[i]
		}
		out[i] = Decision{ID: cs.ID, Labels: labels, State: next, Reason: v.Reason}
	}
	return out
}

// write replaces the filter's labels of the decided changesets and moves them to their state.
func write(ctx context.Context, tx pgx.Tx, ds []Decision) error {
	var (
		labelCS             []int64
		labelNames, labelEv []string
		ids                 = make([]int64, len(ds))
		states, reasons     = make([]string, len(ds)), make([]string, len(ds))
	)
	for i, d := range ds {
		ids[i], states[i], reasons[i] = d.ID, d.State, d.Reason
		for _, l := range d.Labels {
			doc, err := json.Marshal(l)
			if err != nil {
				return fmt.Errorf("filter: changeset %d: evidence: %w", d.ID, err)
			}
			labelCS, labelNames, labelEv = append(labelCS, d.ID), append(labelNames, l.Label), append(labelEv, string(doc))
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM changeset_labels WHERE changeset_id = ANY($1) AND source = 'filter'`, ids); err != nil {
		return fmt.Errorf("filter: clear labels: %w", err)
	}
	if len(labelCS) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO changeset_labels (changeset_id, label, source, evidence)
			SELECT id, label, 'filter', ev::jsonb FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, label, ev)
			ON CONFLICT (changeset_id, label) DO UPDATE SET source = 'filter', evidence = EXCLUDED.evidence`,
			labelCS, labelNames, labelEv); err != nil {
			return fmt.Errorf("filter: write labels: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE changesets c SET state = u.state,
			state_reason = CASE WHEN u.state IN ('filtered', 'dropped') THEN u.reason ELSE c.state_reason END,
			filtered_at = now(), updated_at = now()
		FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, state, reason) WHERE c.id = u.id`,
		ids, states, reasons); err != nil {
		return fmt.Errorf("filter: move changesets: %w", err)
	}
	return nil
}
