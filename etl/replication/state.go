// Package replication reads OpenStreetMap replication feeds: state files, sequence URLs and
// the HTTP client (timeouts, bounded retries with exponential backoff and jitter) that fetches
// them, and turns a start ("head", a sequence, "2 hours ago", an RFC 3339 time) into a
// sequence number by searching state files as paulmach/osm's replication.MinuteStateAt does.
package replication

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is one replication state: a sequence number and the time its data reaches.
type State struct {
	Seq       uint64
	Timestamp time.Time
}

// ParseMinuteState parses an Osmosis state.txt (Java properties: "sequenceNumber=N",
// "timestamp=2020-05-12T06\:13\:02Z"). Both keys are required.
func ParseMinuteState(data []byte) (State, error) {
	var st State
	var haveSeq, haveTS bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return st, fmt.Errorf("state file line %d: %q is not key=value", line, truncate(l))
		}
		k, v = strings.TrimSpace(k), strings.ReplaceAll(strings.TrimSpace(v), `\:`, ":")
		switch k {
		case "sequenceNumber":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return st, fmt.Errorf("state file line %d: sequenceNumber %q is not a number", line, truncate(v))
			}
			st.Seq, haveSeq = n, true
		case "timestamp":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return st, fmt.Errorf("state file line %d: timestamp %q is not an RFC 3339 time", line, truncate(v))
			}
			st.Timestamp, haveTS = t.UTC(), true
		}
	}
	switch {
	case !haveSeq:
		return st, errors.New("state file has no sequenceNumber")
	case !haveTS:
		return st, errors.New("state file has no timestamp")
	}
	return st, nil
}

// ParseChangesetState parses a changeset replication state.yaml ("last_run: 2016-07-02
// 22:46:01.422137422 +00:00", "sequence: N"). The sequence is returned as written; see
// Feed.Head for the off-by-one of the planet's state.yaml.
func ParseChangesetState(data []byte) (State, error) {
	var st State
	var haveSeq, haveTS bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l == "---" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return st, fmt.Errorf("state file line %d: %q is not key: value", line, truncate(l))
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "sequence":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return st, fmt.Errorf("state file line %d: sequence %q is not a number", line, truncate(v))
			}
			st.Seq, haveSeq = n, true
		case "last_run":
			t, err := parseLastRun(v)
			if err != nil {
				return st, fmt.Errorf("state file line %d: last_run %q: %w", line, truncate(v), err)
			}
			st.Timestamp, haveTS = t, true
		}
	}
	switch {
	case !haveSeq:
		return st, errors.New("state file has no sequence")
	case !haveTS:
		return st, errors.New("state file has no last_run")
	}
	return st, nil
}

func parseLastRun(v string) (time.Time, error) {
	for _, layout := range []string{
		"2006-01-02 15:04:05.999999999 -07:00",
		"2006-01-02 15:04:05.999999999 Z07:00",
		"2006-01-02 15:04:05.999999999 Z",
		"2006-01-02 15:04:05 -07:00",
		"2006-01-02 15:04:05 Z",
		time.RFC3339Nano,
	} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("not a time")
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// SeqPath is the AAA/BBB/CCC path of a sequence number.
func SeqPath(seq uint64) string {
	return fmt.Sprintf("%03d/%03d/%03d", seq/1000000, seq/1000%1000, seq%1000)
}
