package replication

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of a replication feed.
type Kind int

// The feeds osmtrack reads.
const (
	Minute     Kind = iota // replication/minute: state.txt, AAA/BBB/CCC.osc.gz + .state.txt
	Changesets             // replication/changesets: state.yaml, AAA/BBB/CCC.osm.gz + .state.txt
)

// Feed is one replication feed at a base URL.
type Feed struct {
	Base   string // ends with "/"
	Kind   Kind
	Client *Client
}

// NewFeed returns a Feed; base gets a trailing slash.
func NewFeed(base string, kind Kind, c *Client) *Feed {
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return &Feed{Base: base, Kind: kind, Client: c}
}

// HeadURL is the URL of the feed's current state.
func (f *Feed) HeadURL() string {
	if f.Kind == Changesets {
		return f.Base + "state.yaml"
	}
	return f.Base + "state.txt"
}

// StateURL is the URL of the state file of seq.
func (f *Feed) StateURL(seq uint64) string { return f.Base + SeqPath(seq) + ".state.txt" }

// DataURL is the URL of the data file of seq.
func (f *Feed) DataURL(seq uint64) string {
	if f.Kind == Changesets {
		return f.Base + SeqPath(seq) + ".osm.gz"
	}
	return f.Base + SeqPath(seq) + ".osc.gz"
}

func (f *Feed) parse(data []byte) (State, error) {
	if f.Kind == Changesets {
		return ParseChangesetState(data)
	}
	return ParseMinuteState(data)
}

// Head fetches the current state. For the changeset feed, whose state.yaml names one less than
// the newest file (a long-standing quirk of planet.openstreetmap.org), the sequence is corrected.
func (f *Feed) Head(ctx context.Context) (State, error) {
	url := f.HeadURL()
	body, err := f.Client.Get(ctx, url, true)
	if err != nil {
		return State{}, fmt.Errorf("head state: %w", err)
	}
	st, err := f.parse(body)
	if err != nil {
		return State{}, fmt.Errorf("head state %s: %w", url, err)
	}
	if f.Kind == Changesets {
		st.Seq++
	}
	return st, nil
}

// State fetches the state file of seq. A 404 is retried when seq <= head (a file at or below
// the head must exist); pass head 0 to return a 404 at once (as the time search does).
func (f *Feed) State(ctx context.Context, seq, head uint64) (State, error) {
	url := f.StateURL(seq)
	body, err := f.Client.Get(ctx, url, head > 0 && seq <= head)
	if err != nil {
		return State{}, err
	}
	st, err := f.parse(body)
	if err != nil {
		return State{}, fmt.Errorf("state %s: %w", url, err)
	}
	if f.Kind == Changesets {
		// The number inside a changeset state file is off by one; the file name is right.
		st.Seq = seq
	}
	if st.Seq != seq {
		return State{}, fmt.Errorf("state %s: names sequence %d", url, st.Seq)
	}
	return st, nil
}

// Data fetches the (gzipped) data file of seq; a 404 at or below head is retried.
func (f *Feed) Data(ctx context.Context, seq, head uint64) ([]byte, error) {
	return f.Client.Get(ctx, f.DataURL(seq), seq <= head)
}

// SeqAt returns the first sequence whose state timestamp is at or after t, searching state
// files by bisection between the oldest available state and head (as paulmach/osm's
// replication.MinuteStateAt does, skipping missing files). A t after head returns head.
func (f *Feed) SeqAt(ctx context.Context, t time.Time, head State) (uint64, error) {
	if !t.Before(head.Timestamp) {
		return head.Seq, nil
	}
	// Find a lower bound: a state older than t. Step back exponentially from head.
	hi := head
	var lo *State
	for step := uint64(60); lo == nil; step *= 4 {
		if step >= hi.Seq {
			step = hi.Seq - 1
		}
		if step == 0 {
			return hi.Seq, nil
		}
		st, ok, err := f.stateNear(ctx, hi.Seq-step, 1, hi.Seq-1)
		if err != nil {
			return 0, err
		}
		if !ok {
			// Older states are gone (or never existed): bisect for the oldest one there is.
			gone := hi.Seq - step
			for lo == nil && gone+1 < hi.Seq {
				mid := gone + (hi.Seq-gone)/2
				st, ok, err := f.stateNear(ctx, mid, gone+1, hi.Seq-1)
				if err != nil {
					return 0, err
				}
				switch {
				case !ok:
					gone = mid
				case st.Timestamp.Before(t):
					lo = &st
				default:
					hi = st
				}
			}
			if lo == nil {
				// t is before every available state: start at the oldest.
				return hi.Seq, nil
			}
			break
		}
		if st.Timestamp.Before(t) {
			lo = &st
			break
		}
		hi = st
	}
	for lo.Seq+1 < hi.Seq {
		mid := lo.Seq + (hi.Seq-lo.Seq)/2
		st, ok, err := f.stateNear(ctx, mid, lo.Seq+1, hi.Seq-1)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if st.Timestamp.Before(t) {
			lo = &st
		} else {
			hi = st
		}
	}
	return hi.Seq, nil
}

// stateNear fetches the state of seq, or of the nearest existing sequence in [min, max] when
// seq's state file is missing.
func (f *Feed) stateNear(ctx context.Context, seq, min, max uint64) (State, bool, error) {
	for d := uint64(0); d <= 16; d++ {
		for _, s := range []uint64{seq - d, seq + d} {
			if s < min || s > max || (d == 0 && s != seq) {
				continue
			}
			st, err := f.State(ctx, s, 0)
			if err == nil {
				return st, true, nil
			}
			if !IsNotFound(err) {
				return State{}, false, err
			}
			if d == 0 {
				break
			}
		}
	}
	return State{}, false, nil
}

var agoRe = regexp.MustCompile(`^(\d+) (minute|hour|day)s? ago$`)

// ParseStart interprets a start: "head", a sequence number, "N minutes|hours|days ago" or an
// RFC 3339 time. It returns either a sequence (seq > 0) or a time; head is neither.
func ParseStart(spec string, now time.Time) (seq uint64, at time.Time, err error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "head" || spec == "":
		return 0, time.Time{}, nil
	case agoRe.MatchString(spec):
		m := agoRe.FindStringSubmatch(spec)
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[m[2]]
		return 0, now.Add(-time.Duration(n) * unit), nil
	}
	if n, err := strconv.ParseUint(spec, 10, 64); err == nil {
		if n == 0 {
			return 0, time.Time{}, errors.New("start sequence must be positive")
		}
		return n, time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, spec)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("start %q is not head, a sequence number, \"N hours ago\" or an RFC 3339 time", spec)
	}
	return 0, t, nil
}

// ResolveStart turns a start into the first sequence to process.
func (f *Feed) ResolveStart(ctx context.Context, spec string, head State, now time.Time) (uint64, error) {
	seq, at, err := ParseStart(spec, now)
	if err != nil {
		return 0, err
	}
	switch {
	case seq > 0:
		return seq, nil
	case at.IsZero():
		return head.Seq, nil
	}
	return f.SeqAt(ctx, at, head)
}
