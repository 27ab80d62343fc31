package analysis

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/sim"
)

type httpGetter struct{ base string }

func (g httpGetter) Get(ctx context.Context, path string) ([]byte, error) {
	resp, err := http.Get(g.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// The discussion of a simulated changeset with comments is read from the simulator's API and
// stored; a second write replaces the rows.
func TestDiscussionFromAPI(t *testing.T) {
	dir := simWorld(t)
	h, err := sim.NewServer(dir, sim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()
	api := httpGetter{hs.URL + "/api/0.6/"}
	var ids []int64
	for id := range simChangesets(t, dir) {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var id int64
	var want int
	for _, cid := range ids {
		m, err := DecodeMeta(bytes.NewReader(get(t, fmt.Sprintf("%s/api/0.6/changeset/%d", hs.URL, cid))), "meta")
		if err != nil {
			t.Fatal(err)
		}
		if m.CommentsCount > 0 {
			id, want = cid, m.CommentsCount
			break
		}
	}
	if id == 0 {
		t.Fatal("no changeset with comments in the simulation")
	}
	cs, err := FetchDiscussion(context.Background(), api, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != want || cs[0].Text == "" || cs[0].User == "" || cs[0].Timestamp.IsZero() {
		t.Fatalf("changeset %d: %d comments (want %d): %+v", id, len(cs), want, cs)
	}
	db := dbtest.PG(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO changesets (id, state) VALUES ($1, 'filtered')`, id); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeDiscussion(ctx, tx, id, cs); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var user, text string
	if err := db.Pool.QueryRow(ctx, `SELECT count(*), min(username), min(text) FILTER (WHERE idx = 0) FROM changeset_comments WHERE changeset_id = $1`, id).Scan(&n, &user, &text); err != nil {
		t.Fatal(err)
	}
	if n != want || text != cs[0].Text {
		t.Errorf("stored %d comments (want %d), first %q", n, want, text)
	}
	if _, err := FetchDiscussion(context.Background(), api, 1); err == nil {
		t.Error("a changeset the API does not have gave no error")
	}
}
