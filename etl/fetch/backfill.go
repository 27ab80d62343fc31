package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/osmtrack/osmtrack/etl/replication"
)

// Backfill is a backfill's range as the user gives it: each end as a sequence number or as a
// time (a ParseStart spec); ToSeq 0 and ToTime "" mean up to the head.
type Backfill struct {
	FromSeq, ToSeq   uint64
	FromTime, ToTime string
}

// Active says whether any end of a backfill is given.
func (b Backfill) Active() bool {
	return b.FromSeq > 0 || b.FromTime != "" || b.ToSeq > 0 || b.ToTime != ""
}

// Check reports a range that cannot be resolved, before any feed is asked: both or neither
// start, both ends, an end before the start, a time that ParseStart does not read.
func (b Backfill) Check(now time.Time) error {
	if (b.FromSeq > 0) == (b.FromTime != "") {
		return errors.New("a backfill needs exactly one of --from-seq and --from-time")
	}
	if b.ToSeq > 0 && b.ToTime != "" {
		return errors.New("give --to-seq or --to-time, not both")
	}
	if b.ToSeq > 0 && b.FromSeq > 0 && b.ToSeq < b.FromSeq {
		return fmt.Errorf("--to-seq %d is before --from-seq %d", b.ToSeq, b.FromSeq)
	}
	for _, t := range []struct{ flag, v string }{{"--from-time", b.FromTime}, {"--to-time", b.ToTime}} {
		if t.v == "" {
			continue
		}
		if _, _, err := replication.ParseStart(t.v, now); err != nil {
			return fmt.Errorf("%s: %w", t.flag, err)
		}
	}
	return nil
}

// RangeError is a backfill range that ends before it starts (a usage error).
type RangeError struct{ From, To uint64 }

func (e *RangeError) Error() string {
	return fmt.Sprintf("the range ends (seq %d) before it starts (seq %d)", e.To, e.From)
}

// Resolve turns b into sequences of feed (asking its head and, for times, its state files):
// the first and last sequence of the range (to 0: the head, whatever it is when the run gets
// there) and the default pointer name, backfill-FROM-TO (TO "head" when open).
func (b Backfill) Resolve(ctx context.Context, feed *replication.Feed, now time.Time) (from, to uint64, pointer string, err error) {
	head, err := feed.Head(ctx)
	if err != nil {
		return 0, 0, "", err
	}
	from, to = b.FromSeq, b.ToSeq
	if b.FromTime != "" {
		if from, err = feed.ResolveStart(ctx, b.FromTime, head, now); err != nil {
			return 0, 0, "", fmt.Errorf("--from-time: %w", err)
		}
	}
	if b.ToTime != "" {
		if to, err = feed.ResolveStart(ctx, b.ToTime, head, now); err != nil {
			return 0, 0, "", fmt.Errorf("--to-time: %w", err)
		}
	}
	if to > 0 && to < from {
		return 0, 0, "", &RangeError{From: from, To: to}
	}
	end := "head"
	if to > 0 {
		end = fmt.Sprint(to)
	}
	return from, to, fmt.Sprintf("backfill-%d-%s", from, end), nil
}
