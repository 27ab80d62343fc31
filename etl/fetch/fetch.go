// Package fetch is the fetch step: minutely diffs into the element store, one transaction per
// diff (element versions kept, changesets upserted, a diffs row, the pointer moved), and the
// changeset metadata feed with its own pointer.
package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/osmchange"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/replication"
)

// Fetcher applies replication files to the database.
type Fetcher struct {
	DB      *pgxpool.Pool
	Feed    *replication.Feed // the minutely feed (Run) or the changeset feed (RunChangesets)
	Regions region.Set        // empty: the whole planet is tracked
	Metrics *metrics.Recorder // may be nil
	Log     *slog.Logger
	Now     func() time.Time // default time.Now
	// API, when set (and regions are), locates what a keep decision needs and the diff and
	// the store lack (see fill); nil: no API requests.
	API ElementAPI
	// MaxFill bounds the elements one diff asks the API for (0: DefaultMaxFill).
	MaxFill int
	Limits  Limits // what one replication file may hold; zero fields: no limit
	// MaxSkew is how far in the future a state time may be (0: DefaultMaxSkew).
	MaxSkew time.Duration
}

// DefaultMaxSkew is the default of Fetcher.MaxSkew (fetch.max_clock_skew).
const DefaultMaxSkew = time.Hour

// checkFuture refuses a replication time more than MaxSkew ahead of the clock: accepted, it
// would make every later file look like it goes backwards.
func (f *Fetcher) checkFuture(ts time.Time) error {
	skew := f.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if now := f.now(); ts.After(now.Add(skew)) {
		return fmt.Errorf("state time %s is %s in the future (more than fetch.max_clock_skew %s): refused; the pointer stays",
			ts.UTC().Format(time.RFC3339), ts.Sub(now).Round(time.Second), skew)
	}
	return nil
}

// Pointer returns where pointer name stands: its sequence and that sequence's time (nil when
// unknown).
func (f *Fetcher) Pointer(ctx context.Context, name string) (seq int64, ts *time.Time, err error) {
	if err := f.DB.QueryRow(ctx, `SELECT seq, seq_timestamp FROM replication_state WHERE name = $1`, name).Scan(&seq, &ts); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, fmt.Errorf("pointer %s does not exist", name)
		}
		return 0, nil, fmt.Errorf("read pointer %s: %w", name, err)
	}
	return seq, ts, nil
}

// ResetPointer moves pointer name to seq, with the time of seq's state file when the feed
// has one (none otherwise): the repair for a pointer that accepted a bad time or sequence.
// It returns the pointer's previous sequence and time. Sequences already in diffs are not
// applied again by a later run (use Options.Force for that).
func (f *Fetcher) ResetPointer(ctx context.Context, name string, seq uint64) (oldSeq int64, oldTS *time.Time, newTS *time.Time, err error) {
	if oldSeq, oldTS, err = f.Pointer(ctx, name); err != nil {
		return 0, nil, nil, err
	}
	if st, err := f.Feed.State(ctx, seq, 0); err == nil && !st.Timestamp.IsZero() {
		if err := f.checkFuture(st.Timestamp); err != nil {
			return oldSeq, oldTS, nil, fmt.Errorf("sequence %d: %w", seq, err)
		}
		t := st.Timestamp.UTC()
		newTS = &t
	} else if err != nil {
		f.log().Warn("reset: no state file for the sequence; the pointer gets no time", "seq", seq, "err", err)
	}
	if _, err := f.DB.Exec(ctx, `UPDATE replication_state SET seq = $2, seq_timestamp = $3, updated_at = now() WHERE name = $1`,
		name, int64(seq), newTS); err != nil {
		return oldSeq, oldTS, nil, fmt.Errorf("reset pointer %s: %w", name, err)
	}
	return oldSeq, oldTS, newTS, nil
}

// Limits bound what one replication file may hold, so that no file can take fetch past a
// memory bound (docs/config.md). Past one, the file fails like any bad file: an error naming
// the sequence, the URL and the limit, nothing written, the pointer held.
type Limits struct {
	MaxUncompressedBytes int64            // after gunzip (osm.max_uncompressed_bytes)
	Decode               osmchange.Limits // elements, tags, values, way nodes, members
}

// LimitsFrom are the limits of osm.max_* on one replication file.
func LimitsFrom(c config.OSM) Limits {
	return Limits{MaxUncompressedBytes: c.MaxUncompressedBytes, Decode: osmchange.Limits{
		MaxElements: c.MaxElements, MaxTags: c.MaxTags, MaxValueBytes: c.MaxValueBytes,
		MaxWayNodes: c.MaxWayNodes, MaxMembers: c.MaxMembers}}
}

// Options says what one run does.
type Options struct {
	Pointer     string        // replication_state.name
	Start       string        // where a new pointer starts: head, a sequence, "2 hours ago", RFC 3339
	FromSeq     uint64        // backfill: first sequence (a new pointer starts here)
	ToSeq       uint64        // backfill: last sequence (0: up to head)
	MaxFiles    int           // at most this many files per run (0: no limit)
	MaxDuration time.Duration // start no new file after this long (0: no limit)
	Force       bool          // re-apply sequences already in diffs
}

// Result is what a run did.
type Result struct {
	Applied int    // files applied
	Skipped int    // sequences already applied by another pointer (diffs row present)
	From    uint64 // first sequence of the run (0 when none)
	Pointer uint64 // the pointer after the run
	Head    uint64
}

// SeqError is a failure on one sequence; its message names the sequence, the URL and the cause.
type SeqError struct {
	Feed string // "fetch" or "changesets"
	Seq  uint64
	URL  string
	Err  error
}

func (e *SeqError) Error() string {
	return fmt.Sprintf("%s seq %d (%s): %v", e.Feed, e.Seq, e.URL, e.Err)
}

func (e *SeqError) Unwrap() error { return e.Err }

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// maxFill is MaxFill, or DefaultMaxFill when it is not set.
func (f *Fetcher) maxFill() int {
	if f.MaxFill <= 0 {
		return DefaultMaxFill
	}
	return f.MaxFill
}

func (f *Fetcher) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

type pointer struct {
	seq uint64
	ts  time.Time // zero when unknown
}

// loadPointer reads the pointer, creating it at start-1 when it does not exist yet, so that a
// failed first file is retried at the same place (a sequence is never skipped).
func (f *Fetcher) loadPointer(ctx context.Context, name, feed string, newStart func() (uint64, error)) (pointer, error) {
	var p pointer
	var seq int64
	var ts *time.Time
	var gotFeed string
	err := f.DB.QueryRow(ctx, `SELECT seq, seq_timestamp, feed FROM replication_state WHERE name = $1`, name).Scan(&seq, &ts, &gotFeed)
	if errors.Is(err, pgx.ErrNoRows) {
		start, err := newStart()
		if err != nil {
			return p, err
		}
		if start == 0 {
			return p, errors.New("start sequence must be positive")
		}
		if _, err := f.DB.Exec(ctx, `INSERT INTO replication_state (name, feed, seq) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
			name, feed, int64(start-1)); err != nil {
			return p, fmt.Errorf("create pointer %s: %w", name, err)
		}
		f.log().Info("new replication pointer", "pointer", name, "feed", feed, "first_seq", start)
		return f.loadPointer(ctx, name, feed, newStart)
	}
	if err != nil {
		return p, fmt.Errorf("read pointer %s: %w", name, err)
	}
	if gotFeed != feed {
		return p, fmt.Errorf("pointer %s belongs to the %s feed, not %s", name, gotFeed, feed)
	}
	p.seq = uint64(seq)
	if ts != nil {
		p.ts = ts.UTC()
	}
	return p, nil
}

// movePointer moves the pointer from seq-1 to seq inside tx; it fails when another run moved it.
func movePointer(ctx context.Context, tx pgx.Tx, name string, seq uint64, ts time.Time) error {
	var tsArg *time.Time
	if !ts.IsZero() {
		tsArg = &ts
	}
	tag, err := tx.Exec(ctx, `UPDATE replication_state SET seq = $2, seq_timestamp = $3, updated_at = now() WHERE name = $1 AND seq = $2 - 1`,
		name, int64(seq), tsArg)
	if err != nil {
		return fmt.Errorf("move pointer: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("move pointer %s to %d: it is no longer at %d (another run?)", name, seq, seq-1)
	}
	return nil
}

// gunzip decompresses a whole gzip body, at most max bytes of it (0: no limit). Nothing is
// allocated from a length the body claims: a first pass counts the output through the limit
// (a gzip bomb stops there, having allocated nothing), a second fills one slice of that exact
// size. Decompressing twice costs CPU; the memory is the output once.
func gunzip(body []byte, max int64) ([]byte, error) {
	if len(body) == 0 {
		return nil, errors.New("gunzip: empty body")
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	var r io.Reader = zr
	if max > 0 {
		r = io.LimitReader(zr, max+1)
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	if max > 0 && n > max {
		return nil, fmt.Errorf("gunzip: more than %d bytes uncompressed (limit osm.max_uncompressed_bytes)", max)
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	if err := zr.Reset(bytes.NewReader(body)); err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return out, nil
}

// limits decides whether a run may start another file.
// begin starts a run over feed ("minute" or "changesets"): it reads the feed's head, loads the
// pointer (creating it at FromSeq or Start when new) and works out the last sequence of this
// run (head, or ToSeq when lower) and its limits.
func (f *Fetcher) begin(ctx context.Context, o Options, feed string) (res Result, lim limits, ptr pointer, head replication.State, last uint64, err error) {
	lim = limits{max: o.MaxFiles}
	if o.MaxDuration > 0 {
		lim.deadline = f.now().Add(o.MaxDuration)
	}
	head, err = f.Feed.Head(ctx)
	if err != nil {
		return res, lim, ptr, head, 0, err
	}
	res.Head = head.Seq
	ptr, err = f.loadPointer(ctx, o.Pointer, feed, func() (uint64, error) {
		if o.FromSeq > 0 {
			return o.FromSeq, nil
		}
		return f.Feed.ResolveStart(ctx, o.Start, head, f.now())
	})
	if err != nil {
		return res, lim, ptr, head, 0, err
	}
	res.Pointer = ptr.seq
	last = head.Seq
	if o.ToSeq > 0 && o.ToSeq < last {
		last = o.ToSeq
	}
	return res, lim, ptr, head, last, nil
}

type limits struct {
	max      int
	deadline time.Time
	n        int
}

func (l *limits) more(now time.Time) bool {
	if l.max > 0 && l.n >= l.max {
		return false
	}
	if !l.deadline.IsZero() && !now.Before(l.deadline) {
		return false
	}
	return true
}

// RecordStates writes one `changesets` point per pipeline state with the number of changesets
// in it (osm-analytic-tracker's osmtracker_changeset_cnt{state}). Failures only log.
func (f *Fetcher) RecordStates(ctx context.Context) {
	if f.Metrics == nil {
		return
	}
	rows, err := f.DB.Query(ctx, `SELECT s.state, count(c.id) FROM unnest(ARRAY['new','filtered','dropped','analysed','done','failed']) AS s(state)
		LEFT JOIN changesets c ON c.state = s.state GROUP BY s.state`)
	if err != nil {
		f.log().Warn("count changesets by state", "err", err)
		return
	}
	defer rows.Close()
	now := f.now()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			f.log().Warn("count changesets by state", "err", err)
			return
		}
		f.Metrics.Point(ctx, "changesets", map[string]string{"state": state}, map[string]any{"count": n}, now)
	}
}
