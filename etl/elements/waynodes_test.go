package elements

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// loadWays fills an empty store with n ways of 8 nodes each (way i: nodes 8i … 8i+7).
func loadWays(tb testing.TB, db *dbtest.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx)
	l, err := StartLoad(ctx, tx)
	if err != nil {
		tb.Fatal(err)
	}
	batch := make([]Element, 0, 10_000)
	for i := range n {
		nodes := make([]int64, 8)
		for j := range nodes {
			nodes[j] = int64(8*i + j)
		}
		batch = append(batch, Element{Type: Way, ID: int64(i + 1), Version: 1, Changeset: 1, Timestamp: t0, Visible: true,
			Nodes: nodes, Tags: []Tag{{"highway", "residential"}}})
		if len(batch) == cap(batch) || i == n-1 {
			if err := l.Write(ctx, batch, SourceSeed); err != nil {
				l.Abort(ctx, err)
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, err := l.Finish(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
}

// TestWaysWithNodesUsesIndex: the lookup of a node's ways can use elements_way_nodes_idx
// (migration 090) instead of reading every way, and finds the ways.
func TestWaysWithNodesUsesIndex(t *testing.T) {
	db := dbtest.PG(t)
	ctx := context.Background()
	loadWays(t, db, 2000)
	got, err := PG{DB: db.Pool}.WaysWithNodes(ctx, []int64{15, 16, 800})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, w := range got {
		ids = append(ids, w.ID)
	}
	if fmt.Sprint(ids) != "[2 3 101]" {
		t.Errorf("ways of nodes 15, 16, 800: %v, want [2 3 101]", ids)
	}
	// The planner picks the index on a store this small only when told to avoid scans; what is
	// checked is that the query's form lets it (the partial index's predicate matches).
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET enable_seqscan`)
	rows, err := conn.Query(ctx, `EXPLAIN `+waysWithNodesSQL, []int64{15})
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		rows.Scan(&line)
		plan = append(plan, line)
	}
	rows.Close()
	if p := strings.Join(plan, "\n"); !strings.Contains(p, "elements_way_nodes_idx") {
		t.Errorf("the ways-of-nodes lookup does not use elements_way_nodes_idx:\n%s", p)
	}
}

// BenchmarkWaysWithNodes: the ways of one node among 200,000 ways (`go test -bench
// WaysWithNodes ./etl/elements`); without migration 090's index every lookup reads every way.
func BenchmarkWaysWithNodes(b *testing.B) {
	db := dbtest.PG(b)
	ctx := context.Background()
	loadWays(b, db, 200_000)
	s := PG{DB: db.Pool}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ws, err := s.WaysWithNodes(ctx, []int64{int64(8 * (i % 200_000))})
		if err != nil || len(ws) != 1 {
			b.Fatalf("%d ways, %v", len(ws), err)
		}
	}
}
