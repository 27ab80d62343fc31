package seed

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/osmtrack/osmtrack/etl/dbtest"
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
	res, err := Run(context.Background(), db.Pool, RunOptions{Source: f, BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != res.Kept.Total() || res.New != n || n < 19000 {
		t.Fatalf("seed wrote %d rows, kept %d, new %d", n, res.Kept.Total(), res.New)
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
