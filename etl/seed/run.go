package seed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/osm"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/metrics"
	"github.com/osmtrack/osmtrack/etl/region"
)

// Pointer is a replication pointer that --set-pointer creates.
type Pointer struct {
	Name string // replication_state.name
	Feed string // "minute" or "changesets"
	// Resolve returns the first sequence of the feed whose state is at or after t (as
	// `osmtrack fetch --start T` does); the pointer is created one before it.
	Resolve func(ctx context.Context, t time.Time) (uint64, error)
}

// RunOptions is one seed.
type RunOptions struct {
	Source    Source
	Regions   region.Set
	Pointers  []Pointer // created at the extract's replication timestamp; none: no pointer is touched
	Metrics   *metrics.Recorder
	Log       *slog.Logger
	Progress  time.Duration // between progress lines [10s]
	BatchSize int           // versions per bulk write [20000]
}

// Result is what a seed did.
type Result struct {
	Stats
	New int64 // versions the store did not hold before
	// Empty: the store held nothing, so the versions were copied straight into the table and
	// its indexes built at the end (elements.Load); otherwise merged (elements.PG.WriteBulk).
	Empty    bool
	Pointers map[string]uint64 // pointer name: the sequence it was created at
}

// ErrPointer is a --set-pointer that cannot be done: the extract has no replication timestamp,
// or a pointer exists already. Retrying does not help.
var ErrPointer = errors.New("cannot set the replication pointers")

// Run loads the extract into the element store in one transaction: a broken file, an error or
// an interruption commits nothing, and a second run adds nothing (versions already held are
// kept). With Pointers it creates them, in the same transaction, at the extract's
// osmosis_replication_timestamp. It records a `seed` metric point.
func Run(ctx context.Context, db *pgxpool.Pool, o RunOptions) (Result, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 20000
	}
	res := Result{Pointers: map[string]uint64{}}
	var seqs []uint64
	if len(o.Pointers) > 0 {
		for _, p := range o.Pointers {
			var seq int64
			err := db.QueryRow(ctx, `SELECT seq FROM replication_state WHERE name = $1`, p.Name).Scan(&seq)
			if err == nil {
				return res, fmt.Errorf("%w: pointer %s exists already (at seq %d); seed without --set-pointer", ErrPointer, p.Name, seq)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return res, fmt.Errorf("seed: read pointer %s: %w", p.Name, err)
			}
		}
		ts, err := Header(ctx, o.Source)
		if err != nil {
			return res, err
		}
		if ts.IsZero() {
			return res, fmt.Errorf("%w: %s has no osmosis_replication_timestamp in its header", ErrPointer, o.Source.Name())
		}
		for _, p := range o.Pointers {
			seq, err := p.Resolve(ctx, ts)
			if err != nil {
				return res, fmt.Errorf("seed: find the %s sequence at %s: %w", p.Feed, ts.Format(time.RFC3339), err)
			}
			if seq == 0 {
				return res, fmt.Errorf("seed: the %s feed has no sequence at %s", p.Feed, ts.Format(time.RFC3339))
			}
			seqs = append(seqs, seq)
		}
	}

	tx, err := db.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("seed: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// An empty store (the first deployment) is loaded straight into the table, its indexes
	// built at the end; otherwise through the staging table, keeping the versions held.
	load, err := elements.StartLoad(ctx, tx)
	var write func(context.Context, []elements.Element) (int64, error)
	switch {
	case err == nil:
		res.Empty = true
		write = func(ctx context.Context, els []elements.Element) (int64, error) {
			return 0, load.Write(ctx, els, elements.SourceSeed)
		}
	case errors.Is(err, elements.ErrNotEmpty), errors.Is(err, elements.ErrNotOwner):
		if errors.Is(err, elements.ErrNotOwner) {
			o.Log.Warn("seed: the empty store's fast path needs the role that owns the tables; merging instead", "err", err)
		}
		pg := elements.PG{DB: tx}
		write = func(ctx context.Context, els []elements.Element) (int64, error) {
			return pg.WriteBulk(ctx, els, elements.SourceSeed)
		}
	default:
		return res, fmt.Errorf("seed: %w", err)
	}
	w := newStoreWriter(ctx, write)
	st, err := Load(ctx, o.Source, w, Options{Regions: o.Regions, Log: o.Log, Progress: o.Progress, BatchSize: o.BatchSize})
	newRows, werr := w.close()
	res.Stats, res.New = st, newRows
	if err == nil {
		err = werr
	}
	if load != nil {
		if err != nil {
			load.Abort(ctx, err)
		} else {
			o.Log.Info("seed: building the element store's indexes", "versions", st.Kept.Total())
			res.New, err = load.Finish(ctx)
		}
	}
	if err != nil {
		return res, err
	}
	for i, p := range o.Pointers {
		tag, err := tx.Exec(ctx, `INSERT INTO replication_state (name, feed, seq, seq_timestamp) VALUES ($1, $2, $3, NULL) ON CONFLICT (name) DO NOTHING`,
			p.Name, p.Feed, int64(seqs[i]-1))
		if err != nil {
			return res, fmt.Errorf("seed: create pointer %s: %w", p.Name, err)
		}
		if tag.RowsAffected() != 1 {
			return res, fmt.Errorf("%w: pointer %s was created while the seed ran", ErrPointer, p.Name)
		}
		res.Pointers[p.Name] = seqs[i] - 1
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("seed: commit: %w", err)
	}
	o.Log.Info("seed done", "extract", o.Source.Name(), "read", st.Read, "kept", st.Kept.Total(), "new", res.New,
		"nodes", st.Kept.Nodes, "ways", st.Kept.Ways, "relations", st.Kept.Relations, "missing_nodes", st.MissingNodes,
		"passes", st.Passes, "ids_in_memory", st.IDs, "empty_store", res.Empty, "seconds", st.Duration.Seconds())
	for name, seq := range res.Pointers {
		o.Log.Info("replication pointer created", "pointer", name, "seq", seq, "at", st.Header.Format(time.RFC3339))
	}
	if o.Metrics != nil {
		secs := st.Duration.Seconds()
		o.Metrics.Point(ctx, "seed", map[string]string{"format": o.Source.Format().String()}, map[string]any{
			"read": st.Read, "kept": st.Kept.Total(), "new": res.New,
			"nodes": st.Kept.Nodes, "ways": st.Kept.Ways, "relations": st.Kept.Relations,
			"missing_nodes": st.MissingNodes, "bytes": st.Bytes, "passes": int64(st.Passes),
			"duration_seconds": secs, "read_per_second": float64(st.Read) / max(secs, 1e-3),
		}, time.Now())
	}
	return res, nil
}

// Header reads only the header of the extract: its osmosis_replication_timestamp (zero: none).
func Header(ctx context.Context, src Source) (time.Time, error) {
	rc, err := src.Open(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer rc.Close()
	sc, err := newScanner(ctx, src.Name(), src.Format(), rc, filter{})
	if err != nil {
		return time.Time{}, err
	}
	sc.Close()
	return sc.header, nil
}

// storeWriter converts batches to element versions and writes them on its own goroutine, so
// that decoding and writing overlap: at most two batches wait.
type storeWriter struct {
	ch   chan []elements.Element
	done chan struct{}
	n    int64
	mu   sync.Mutex
	err  error
}

func (w *storeWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func newStoreWriter(ctx context.Context, write func(context.Context, []elements.Element) (int64, error)) *storeWriter {
	w := &storeWriter{ch: make(chan []elements.Element, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for els := range w.ch {
			if w.failed() != nil {
				continue
			}
			n, err := write(ctx, els)
			w.n += n
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *storeWriter) Write(ctx context.Context, batch []osm.Object) error {
	els := make([]elements.Element, 0, len(batch))
	for _, o := range batch {
		els = append(els, FromOSM(o))
	}
	if err := w.failed(); err != nil {
		return err
	}
	select {
	case w.ch <- els:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close waits for the writes and returns how many versions were new.
func (w *storeWriter) close() (int64, error) {
	close(w.ch)
	<-w.done
	return w.n, w.err
}

// FromOSM converts a node, way or relation of an extract to an element version (no action:
// an extract says what is, not what was done).
func FromOSM(o osm.Object) elements.Element {
	var e elements.Element
	var tags osm.Tags
	switch o := o.(type) {
	case *osm.Node:
		e = elements.Element{Type: elements.Node, ID: int64(o.ID), Version: o.Version, Changeset: int64(o.ChangesetID),
			Timestamp: o.Timestamp, UID: int64(o.UserID), User: o.User, HasCoords: true, Lat: o.Lat, Lon: o.Lon}
		tags = o.Tags
	case *osm.Way:
		e = elements.Element{Type: elements.Way, ID: int64(o.ID), Version: o.Version, Changeset: int64(o.ChangesetID),
			Timestamp: o.Timestamp, UID: int64(o.UserID), User: o.User, Nodes: make([]int64, len(o.Nodes))}
		for i, n := range o.Nodes {
			e.Nodes[i] = int64(n.ID)
		}
		tags = o.Tags
	case *osm.Relation:
		e = elements.Element{Type: elements.Relation, ID: int64(o.ID), Version: o.Version, Changeset: int64(o.ChangesetID),
			Timestamp: o.Timestamp, UID: int64(o.UserID), User: o.User, Members: make([]elements.Member, len(o.Members))}
		for i, m := range o.Members {
			t := elements.Node
			switch m.Type {
			case osm.TypeWay:
				t = elements.Way
			case osm.TypeRelation:
				t = elements.Relation
			}
			e.Members[i] = elements.Member{Type: t, Ref: m.Ref, Role: m.Role}
		}
		tags = o.Tags
	}
	e.Visible = true
	if len(tags) > 0 {
		e.Tags = make([]elements.Tag, len(tags))
		for i, t := range tags {
			e.Tags[i] = elements.Tag{Key: t.Key, Value: t.Value}
		}
	}
	e.Timestamp = e.Timestamp.UTC()
	return e
}
