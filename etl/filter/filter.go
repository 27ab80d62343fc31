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
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

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

type claimed struct {
	cs    *rules.Changeset
	state string
}

// batch claims, labels and moves one batch in one transaction.
func (f *Filter) batch(ctx context.Context, o Options, env *regionEnvelopes, after int64, st *Stats) (int, int64, error) {
	tx, err := f.DB.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("filter: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	const cols = `c.id, c.username, c.uid, c.created_at, c.closed_at, c.open, c.comments_count, c.changes_count, c.tags,
		ST_XMin(c.bbox), ST_YMin(c.bbox), ST_XMax(c.bbox), ST_YMax(c.bbox),
		(c.meta_seq IS NOT NULL OR c.meta_updated_at IS NOT NULL), c.num_create, c.num_modify, c.num_delete, c.state`
	var rows pgx.Rows
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
		return 0, 0, fmt.Errorf("filter: claim: %w", err)
	}
	var batch []claimed
	byID := map[int64]*rules.Changeset{}
	for rows.Next() {
		var (
			cs                rules.Changeset
			user              *string
			uid               *int64
			created, closed   *time.Time
			open              *bool
			comments, changes *int32
			tags              map[string]string
			x0, y0, x1, y1    *float64
			nc, nm, nd        int32
			state             string
		)
		if err := rows.Scan(&cs.ID, &user, &uid, &created, &closed, &open, &comments, &changes, &tags,
			&x0, &y0, &x1, &y1, &cs.MetadataKnown, &nc, &nm, &nd, &state); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("filter: claim: %w", err)
		}
		if user != nil {
			cs.User = *user
		}
		if uid != nil {
			cs.UID = *uid
		}
		if created != nil {
			cs.CreatedAt = *created
		}
		if closed != nil {
			cs.ClosedAt = *closed
		}
		if open != nil {
			cs.Open = *open
		}
		if comments != nil {
			cs.CommentsCount = int(*comments)
		}
		if changes != nil {
			cs.ChangesCount = int(*changes)
		}
		cs.Tags = tags
		if x0 != nil {
			cs.BBox = &orb.Bound{Min: orb.Point{*x0, *y0}, Max: orb.Point{*x1, *y1}}
		}
		if nc+nm+nd > 0 {
			cs.Counts = map[string]int{"create": int(nc), "modify": int(nm), "delete": int(nd)}
		}
		c := &cs
		batch = append(batch, claimed{cs: c, state: state})
		byID[cs.ID] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("filter: claim: %w", err)
	}
	if len(batch) == 0 {
		return 0, 0, nil
	}
	ids := make([]int64, len(batch))
	for i, b := range batch {
		ids[i] = b.cs.ID
	}
	if err := loadElements(ctx, tx, ids, byID); err != nil {
		return 0, 0, err
	}
	if err := locateMembers(ctx, tx, byID); err != nil {
		return 0, 0, err
	}
	if err := locateNodeWays(ctx, tx, byID, f.Rules.Regions()); err != nil {
		return 0, 0, err
	}

	var (
		labelCS             []int64
		labelNames, labelEv []string
		stCS                []int64
		stState, stReason   []string
	)
	for _, b := range batch {
		labels, v := f.Rules.Evaluate(b.cs, rules.PhaseFilter)
		for _, l := range labels {
			doc, err := json.Marshal(l)
			if err != nil {
				return 0, 0, fmt.Errorf("filter: changeset %d: evidence: %w", b.cs.ID, err)
			}
			labelCS, labelNames, labelEv = append(labelCS, b.cs.ID), append(labelNames, l.Label), append(labelEv, string(doc))
		}
		next := "dropped"
		if v.Analyse {
			next = "filtered"
		}
		if o.Refilter {
			// Analysed (or failed) changesets keep their state; only the labels change, and a
			// dropped one that now passes goes to analysis (and back).
			if b.state != "filtered" && b.state != "dropped" {
				next = b.state
			}
		}
		if next == "dropped" {
			st.Dropped++
		} else {
			st.Filtered++
		}
		stCS, stState, stReason = append(stCS, b.cs.ID), append(stState, next), append(stReason, v.Reason)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM changeset_labels WHERE changeset_id = ANY($1) AND source = 'filter'`, ids); err != nil {
		return 0, 0, fmt.Errorf("filter: clear labels: %w", err)
	}
	if len(labelCS) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO changeset_labels (changeset_id, label, source, evidence)
			SELECT id, label, 'filter', ev::jsonb FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, label, ev)
			ON CONFLICT (changeset_id, label) DO UPDATE SET source = 'filter', evidence = EXCLUDED.evidence`,
			labelCS, labelNames, labelEv); err != nil {
			return 0, 0, fmt.Errorf("filter: write labels: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE changesets c SET state = u.state,
			state_reason = CASE WHEN u.state IN ('filtered', 'dropped') THEN u.reason ELSE c.state_reason END,
			filtered_at = now(), updated_at = now()
		FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, state, reason) WHERE c.id = u.id`,
		stCS, stState, stReason); err != nil {
		return 0, 0, fmt.Errorf("filter: move changesets: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("filter: commit: %w", err)
	}
	st.Labels += len(labelCS)
	return len(batch), ids[len(ids)-1], nil
}

// loadElements reads the batch's element versions with their previous versions, and the
// locations of the nodes of its ways that the changeset did not edit itself, each with where
// its location came from (relations: locateMembers).
func loadElements(ctx context.Context, tx pgx.Tx, ids []int64, byID map[int64]*rules.Changeset) error {
	st := elements.PG{DB: tx}
	els, err := st.ChangesetElements(ctx, ids)
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	vkeys := make([]elements.VKey, len(els))
	for i := range els {
		vkeys[i] = els[i].VKey()
	}
	prev, err := st.Previous(ctx, vkeys)
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	type wayNodes struct {
		cs    int64
		ref   string // "way/7"
		nodes []int64
	}
	var ways []wayNodes
	edited := map[int64]map[int64]bool{} // changeset -> node ids it edited
	for i := range els {
		e := &els[i]
		cs := byID[e.Changeset]
		if cs == nil {
			continue
		}
		action := e.Action.String()
		if action == "" {
			action = "delete"
			if e.Visible {
				action = "modify"
			}
		}
		el := rules.Element{Type: elements.TypeName(e.Type), ID: e.ID, Version: e.Version, Action: action, Tags: e.TagMap(),
			Source: e.Source.String()}
		if e.HasCoords {
			el.Point = &orb.Point{e.Lon, e.Lat}
		}
		if p, ok := prev[e.VKey()]; ok {
			el.Old = &rules.Version{Version: p.Version, Tags: p.TagMap(), Source: p.Source.String()}
			if p.HasCoords {
				el.Old.Point = &orb.Point{p.Lon, p.Lat}
			}
		}
		cs.Elements = append(cs.Elements, el)
		if edited[e.Changeset] == nil {
			edited[e.Changeset] = map[int64]bool{}
		}
		switch e.Type {
		case elements.Node:
			edited[e.Changeset][e.ID] = true
		case elements.Way:
			if len(e.Nodes) > 0 {
				ways = append(ways, wayNodes{e.Changeset, "way/" + strconv.FormatInt(e.ID, 10), e.Nodes})
			}
		}
	}
	if len(ways) == 0 {
		return nil
	}
	const maxNodes = 200_000 // bound the lookup for huge batches; the rest stay unlocated
	var need []int64
	seen := map[int64]bool{}
	for _, w := range ways {
		for _, n := range w.nodes {
			if !seen[n] && !edited[w.cs][n] && len(need) < maxNodes {
				seen[n] = true
				need = append(need, n)
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	pos, err := st.Positions(ctx, need, true)
	if err != nil {
		return fmt.Errorf("filter: read way nodes: %w", err)
	}
	for _, w := range ways {
		cs := byID[w.cs]
		for _, n := range w.nodes {
			if p, ok := pos[n]; ok && !edited[w.cs][n] {
				edited[w.cs][n] = true // once per changeset
				cs.EditPoints = append(cs.EditPoints, rules.EditPoint{Point: orb.Point{p.Lon, p.Lat},
					Ref: fmt.Sprintf("node/%d of %s", n, w.ref), Source: p.Source.String()})
			}
		}
	}
	return nil
}
