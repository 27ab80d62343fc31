package fetch

import (
	"context"
	"errors"
	"strings"
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

func TestBackfillCheck(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		b    Backfill
		want string // "" for no error
	}{
		{Backfill{FromSeq: 10, ToSeq: 20}, ""},
		{Backfill{FromSeq: 10}, ""},
		{Backfill{FromTime: "2 hours ago", ToTime: "2026-11-30T11:00:00Z"}, ""},
		{Backfill{ToSeq: 20}, "exactly one of --from-seq and --from-time"},
		{Backfill{FromSeq: 10, FromTime: "2 hours ago"}, "exactly one of --from-seq and --from-time"},
		{Backfill{FromSeq: 10, ToSeq: 20, ToTime: "1 hour ago"}, "--to-seq or --to-time, not both"},
		{Backfill{FromSeq: 20, ToSeq: 10}, "--to-seq 10 is before --from-seq 20"},
		{Backfill{FromTime: "yesterday-ish"}, "--from-time:"},
		{Backfill{FromSeq: 1, ToTime: "soon"}, "--to-time:"},
	} {
		err := c.b.Check(now)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.b, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one containing %q", c.b, err, c.want)
		}
	}
	if (Backfill{}).Active() || !(Backfill{ToTime: "1 hour ago"}).Active() {
		t.Error("Active")
	}
}
