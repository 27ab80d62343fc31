package seed

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/region"
)

// cancelAfter is a source that cancels the run once n bytes of the file have been read: an
// interruption (SIGTERM) in the middle of a seed.
type cancelAfter struct {
	*File
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Open(ctx context.Context) (io.ReadCloser, error) {
	rc, err := c.File.Open(ctx)
	if err != nil {
		return nil, err
	}
	return &cancelReader{ReadCloser: rc, left: c.n, cancel: c.cancel}, nil
}

type cancelReader struct {
	io.ReadCloser
	left   int64
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if r.left -= int64(n); r.left <= 0 {
		r.cancel()
	}
	return n, err
}

// TestRunInterruptedCommitsNothing: a seed interrupted half way leaves the store as it was; run
// again it loads everything; a third run adds nothing.
func TestRunInterruptedCommitsNothing(t *testing.T) {
	db := dbtest.PG(t)
	f, err := NewFile(monaco)
	if err != nil {
		t.Fatal(err)
	}
	count := func() (n int64) {
		t.Helper()
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM elements`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = Run(ctx, db.Pool, RunOptions{Source: &cancelAfter{File: f, n: 150_000, cancel: cancel}, BatchSize: 500})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if n := count(); n != 0 {
		t.Fatalf("an interrupted seed committed %d versions", n)
	}
	// The load into the empty store dropped the indexes: the interruption brought them back.
	var idx int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_indexes WHERE tablename = 'elements'`).Scan(&idx); err != nil || idx < 3 {
		t.Fatalf("elements has %d indexes after an interrupted seed (%v)", idx, err)
	}
	res, err := Run(context.Background(), db.Pool, RunOptions{Source: f, BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != res.Kept.Total() || res.New != n || n < 19000 || !res.Empty {
		t.Fatalf("seed wrote %d rows, kept %d, new %d, empty store %v", n, res.Kept.Total(), res.New, res.Empty)
	}
	res, err = Run(context.Background(), db.Pool, RunOptions{Source: f})
	if err != nil || res.New != 0 {
		t.Fatalf("second seed: %d new, %v", res.New, err)
	}
	var seed int64
	db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM elements WHERE source = 'seed' AND action IS NULL`).Scan(&seed)
	if seed != count() {
		t.Fatalf("%d of %d rows have source seed and no action", seed, count())
	}
}

// TestRunEmptyStoreSameAsMerge: a seed into an empty store (COPY straight into the table,
// indexes built at the end) leaves the same rows as a seed merged into a store in use (the
// staging table and ON CONFLICT), with and without regions.
func TestRunEmptyStoreSameAsMerge(t *testing.T) {
	ctx := context.Background()
	f, err := NewFile(monaco)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		regions region.Set
	}{{"all", nil}, {"quarter", quarterSet(t)}} {
		t.Run(tc.name, func(t *testing.T) {
			empty := dbtest.PG(t)
			res, err := Run(ctx, empty.Pool, RunOptions{Source: f, Regions: tc.regions, BatchSize: 3000})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Empty || res.New != res.Kept.Total() || res.New < 1000 {
				t.Fatalf("seed into an empty store: empty %v, %d new of %d kept", res.Empty, res.New, res.Kept.Total())
			}
			// The same seed into a store that holds one (unrelated) version takes the merge path.
			inUse := dbtest.PG(t)
			if _, err := inUse.Pool.Exec(ctx, `INSERT INTO elements (type, id, version, changeset, ts, visible, source)
				VALUES ('n', 1e15, 1, 1, now(), false, 'diff')`); err != nil {
				t.Fatal(err)
			}
			res2, err := Run(ctx, inUse.Pool, RunOptions{Source: f, Regions: tc.regions, BatchSize: 3000})
			if err != nil {
				t.Fatal(err)
			}
			if res2.Empty || res2.New != res.New {
				t.Fatalf("seed into a store in use: empty %v, %d new, want %d", res2.Empty, res2.New, res.New)
			}
			if _, err := inUse.Pool.Exec(ctx, `DELETE FROM elements WHERE id = 1e15`); err != nil {
				t.Fatal(err)
			}
			dbtest.SameTables(t, dbtest.Tables(t, inUse.Pool), dbtest.Tables(t, empty.Pool))
		})
	}
}
