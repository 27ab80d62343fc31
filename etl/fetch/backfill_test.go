package fetch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/replication"
)

func TestBackfillResolve(t *testing.T) {
	f := newTestFeed(t)
	for seq := uint64(1); seq <= 10; seq++ {
		f.add(seq, []byte(`<osmChange version="0.6"></osmChange>`))
	}
	feed := replication.NewFeed(f.srv.URL+"/replication/minute", replication.Minute, testClient())
	now := baseTime.Add(11 * time.Minute)
	at := func(d time.Duration) string { return baseTime.Add(d).Format(time.RFC3339) }
	for _, c := range []struct {
		b        Backfill
		from, to uint64
		pointer  string
	}{
		{Backfill{FromSeq: 5}, 5, 0, "backfill-5-head"},
		{Backfill{FromSeq: 5, ToSeq: 8}, 5, 8, "backfill-5-8"},
		{Backfill{FromSeq: 2, ToTime: "head"}, 2, 10, "backfill-2-10"},
		// Each state is at baseTime + seq minutes: 2:30 is in seq 3's data, 7:00 is seq 7's state.
		{Backfill{FromTime: at(150 * time.Second), ToTime: at(7 * time.Minute)}, 3, 7, "backfill-3-7"},
	} {
		from, to, pointer, err := c.b.Resolve(context.Background(), feed, now)
		if err != nil || from != c.from || to != c.to || pointer != c.pointer {
			t.Errorf("%+v: got %d %d %q %v; want %d %d %q", c.b, from, to, pointer, err, c.from, c.to, c.pointer)
		}
	}
	_, _, _, err := Backfill{FromSeq: 8, ToTime: at(3 * time.Minute)}.Resolve(context.Background(), feed, now)
	var re *RangeError
	if !errors.As(err, &re) || re.From != 8 || re.To != 3 || err.Error() != "the range ends (seq 3) before it starts (seq 8)" {
		t.Errorf("range ending before its start: %v", err)
	}
}
