package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osmtrack/osmtrack/etl/osmchange"
	"github.com/osmtrack/osmtrack/etl/replication"
)

// prepared is one diff downloaded, un-gzipped, parsed and checked: nothing written yet.
type prepared struct {
	seq     uint64
	url     string
	state   replication.State
	bytes   int           // gzipped size
	raw     int           // uncompressed size
	applied chan struct{} // closed when the diff has been applied (or the run stopped)
	change  *osmchange.Change
	prepDur time.Duration
	err     error
}

func (f *Fetcher) prepare(ctx context.Context, seq, head uint64) *prepared {
	start := time.Now()
	p := &prepared{seq: seq, url: f.Feed.DataURL(seq), applied: make(chan struct{})}
	fail := func(err error) *prepared {
		p.err = &SeqError{Feed: "fetch", Seq: seq, URL: p.url, Err: err}
		return p
	}
	st, err := f.Feed.State(ctx, seq, head)
	if err != nil {
		return fail(fmt.Errorf("state file: %w", err))
	}
	p.state = st
	if err := f.checkFuture(st.Timestamp); err != nil {
		return fail(err)
	}
	body, err := f.Feed.Data(ctx, seq, head)
	if err != nil {
		return fail(err)
	}
	p.bytes = len(body)
	raw, err := gunzip(body, f.Limits.MaxUncompressedBytes)
	if err != nil {
		return fail(err)
	}
	p.raw = len(raw)
	c, err := osmchange.DecodeLimited(raw, f.Limits.Decode)
	raw = nil // the decoded change keeps no reference to it
	if err != nil {
		var le *osmchange.LimitError
		if errors.As(err, &le) {
			return fail(fmt.Errorf("parse: %w (osm.max_* in the configuration)", err))
		}
		return fail(fmt.Errorf("parse: %w", err))
	}
	if c.Fallback != "" {
		f.log().Debug("diff decoded by the reference decoder", "seq", seq, "reason", c.Fallback)
	}
	if err := c.Check(); err != nil {
		return fail(fmt.Errorf("check: %w", err))
	}
	p.change = c
	p.prepDur = time.Since(start)
	return p
}

// Run applies minutely diffs from the pointer (created at Start or FromSeq when new) up to head
// (or ToSeq), within MaxFiles and MaxDuration. It stops at the first failing diff, with an
// error naming the sequence, the URL and the cause; that diff leaves no rows.
func (f *Fetcher) Run(ctx context.Context, o Options) (Result, error) {
	res, lim, ptr, head, last, err := f.begin(ctx, o, "minute")
	if err != nil {
		return res, fmt.Errorf("fetch: %w", err)
	}
	if ptr.seq >= last {
		f.log().Info("nothing to fetch", "pointer", o.Pointer, "seq", ptr.seq, "head", head.Seq)
		return res, nil
	}
	res.From = ptr.seq + 1

	// Download and parse the next diff while this one is written: at most two diffs in memory,
	// and only one when it is big (its memory is then the bound, docs/config.md).
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan *prepared)
	go func() {
		defer close(ch)
		for seq := ptr.seq + 1; seq <= last; seq++ {
			p := f.prepare(pctx, seq, head.Seq)
			select {
			case ch <- p:
			case <-pctx.Done():
				return
			}
			if p.err != nil {
				return
			}
			if p.raw > bigDiff {
				select {
				case <-p.applied:
				case <-pctx.Done():
					return
				}
			}
		}
	}()
	for lim.more(f.now()) {
		p, ok := <-ch
		if !ok {
			break
		}
		if p.err != nil {
			return res, p.err
		}
		applyStart := time.Now()
		st, err := f.apply(ctx, o, p, &ptr)
		close(p.applied)
		if err != nil {
			return res, &SeqError{Feed: "fetch", Seq: p.seq, URL: p.url, Err: err}
		}
		lim.n++
		res.Pointer = p.seq
		if st.skipped {
			res.Skipped++
		} else {
			res.Applied++
		}
		proc := p.prepDur + time.Since(applyStart)
		f.Metrics.Point(ctx, "replication", map[string]string{"pointer": o.Pointer, "feed": "minute"}, map[string]any{
			"seq":                int64(p.seq),
			"head_seq":           int64(head.Seq),
			"lag_seconds":        f.now().Sub(p.state.Timestamp).Seconds(),
			"processing_seconds": proc.Seconds(),
			"bytes":              int64(p.bytes),
			"elements":           st.elements,
			"elements_kept":      st.kept,
			"changesets":         st.changesets,
			"changesets_tracked": st.tracked,
			"skipped":            st.skipped,
			"decoder_fallback":   p.change.Fallback != "",
			"api_elements":       st.apiElements,
		}, f.now())
		f.log().Info("diff applied", "seq", p.seq, "elements", st.elements, "kept", st.kept, "changesets", st.changesets,
			"tracked", st.tracked, "api_elements", st.apiElements, "skipped", st.skipped, "ms", proc.Milliseconds())
	}
	return res, nil
}

// bigDiff is the uncompressed size past which the next diff is not prepared while this one is
// applied.
const bigDiff = 32 << 20

type applyStats struct {
	elements, kept, changesets, tracked int
	apiElements                         int // asked of the API to locate elements (fill)
	skipped                             bool
}

// apply writes one prepared diff in one transaction.
func (f *Fetcher) apply(ctx context.Context, o Options, p *prepared, ptr *pointer) (applyStats, error) {
	var st applyStats
	start := time.Now()
	if !ptr.ts.IsZero() && p.state.Timestamp.Before(ptr.ts) {
		return st, fmt.Errorf("timestamp %s goes backwards (sequence %d is at %s)",
			p.state.Timestamp.Format(time.RFC3339), ptr.seq, ptr.ts.Format(time.RFC3339))
	}
	c := p.change
	st.elements = len(c.Elements)
	cs := map[int64]struct{}{}
	for i := range c.Elements {
		cs[c.Elements[i].Changeset] = struct{}{}
	}
	st.changesets = len(cs)

	err := pgx.BeginFunc(ctx, f.DB, func(tx pgx.Tx) error {
		// The diffs row first: a concurrent run applying the same sequence waits here, then
		// finds it applied.
		onConflict := `DO NOTHING`
		if o.Force {
			onConflict = `DO UPDATE SET seq_timestamp = EXCLUDED.seq_timestamp, bytes = EXCLUDED.bytes, elements = EXCLUDED.elements`
		}
		var got int64
		err := tx.QueryRow(ctx, `INSERT INTO diffs (seq, seq_timestamp, bytes, elements, elements_kept, changesets, processing_ms)
			VALUES ($1, $2, $3, $4, 0, $5, 0) ON CONFLICT (seq) `+onConflict+` RETURNING seq`,
			int64(p.seq), p.state.Timestamp, p.bytes, st.elements, st.changesets).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
			st.skipped = true
			return movePointer(ctx, tx, o.Pointer, p.seq, p.state.Timestamp)
		}
		if err != nil {
			return fmt.Errorf("insert diffs row: %w", err)
		}
		t0 := time.Now()
		m, err := f.match(ctx, tx, c)
		if err != nil {
			return err
		}
		st.kept, st.apiElements = m.kept, m.apiElements
		t1 := time.Now()
		if err := writeElements(ctx, tx, c, m, p.seq, o.Force); err != nil {
			return err
		}
		t2 := time.Now()
		tracked, err := writeChangesets(ctx, tx, m, p.seq)
		if err != nil {
			return err
		}
		f.log().Debug("diff phases", "seq", p.seq, "prepare_ms", p.prepDur.Milliseconds(), "match_ms", t1.Sub(t0).Milliseconds(),
			"elements_ms", t2.Sub(t1).Milliseconds(), "changesets_ms", time.Since(t2).Milliseconds())
		st.tracked = tracked
		ms := (p.prepDur + time.Since(start)).Milliseconds()
		if _, err := tx.Exec(ctx, `UPDATE diffs SET elements_kept = $2, processing_ms = $3 WHERE seq = $1`,
			int64(p.seq), st.kept, ms); err != nil {
			return fmt.Errorf("update diffs row: %w", err)
		}
		return movePointer(ctx, tx, o.Pointer, p.seq, p.state.Timestamp)
	})
	if err != nil {
		return st, err
	}
	ptr.seq, ptr.ts = p.seq, p.state.Timestamp
	return st, nil
}
