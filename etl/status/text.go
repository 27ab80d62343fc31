package status

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report for people: one section per part, problems last.
func WriteText(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	p("osmtrack status at %s\n\n", r.GeneratedAt.Format(time.RFC3339))
	db := "reachable"
	if !r.Database.Reachable {
		db = "NOT reachable: " + r.Database.Error
	}
	p("database\t%s, schema %d (binary %d)\n", db, r.Database.SchemaVersion, r.Database.ExpectedSchemaVersion)
	switch {
	case !r.InfluxDB.Configured:
		p("influxdb\tnot configured (metrics off)\n")
	case r.InfluxDB.Reachable:
		p("influxdb\treachable\n")
	default:
		p("influxdb\tNOT reachable: %s\n", r.InfluxDB.Error)
	}
	for _, h := range r.Heads {
		if h.Error != "" {
			p("head %s\tunknown: %s\n", h.Feed, h.Error)
		} else {
			p("head %s\t%d at %s\n", h.Feed, *h.Seq, ts(h.Timestamp))
		}
	}
	p("\npointer\tfeed\tseq\tseq time\tlag\tbehind head\n")
	for _, pt := range r.Pointers {
		lag, behind := "-", "-"
		if pt.LagSeconds != nil {
			lag = roundDur(*pt.LagSeconds).String()
		}
		if pt.BehindHead != nil {
			behind = strconv.FormatInt(*pt.BehindHead, 10)
		}
		name := pt.Name
		if pt.Live {
			name += " (live)"
		}
		p("%s\t%s\t%d\t%s\t%s\t%s\n", name, pt.Feed, pt.Seq, ts(pt.SeqTimestamp), lag, behind)
	}
	if len(r.Pointers) == 0 {
		p("(none)\n")
	}
	if r.GapsTotal == 0 {
		p("\ngaps in diffs\tnone\n")
	} else {
		p("\ngaps in diffs\t%d\n", r.GapsTotal)
		for _, g := range r.Gaps {
			p("  %d..%d\t%d diffs\n", g.From, g.To, g.To-g.From+1)
		}
	}
	p("\nchangesets\t")
	for i, s := range ChangesetStates {
		if i > 0 {
			p(", ")
		}
		p("%s %d", s, r.Changesets[s])
	}
	p("\n")
	for _, f := range r.Failed {
		p("  failed %d\tattempts %d\tnext %s\t%s\n", f.ID, f.Attempts, ts(f.NextAttemptAt), oneLine(f.Error))
	}
	p("\njob\tlast run\toutcome\titems\terrors\tlast success\texpected every\n")
	for _, j := range r.Jobs {
		last, outcome, items, errs := "never", "-", "-", "-"
		if j.LastRun != nil {
			last, outcome = ts(&j.LastRun.StartedAt), j.LastRun.Outcome
			if j.Source == "influxdb" {
				outcome += " (influxdb)"
			}
			items, errs = strconv.Itoa(j.LastRun.Items), strconv.Itoa(j.LastRun.Errors)
		}
		every := "-"
		if j.ExpectedIntervalSeconds != nil {
			every = roundDur(*j.ExpectedIntervalSeconds).String()
		}
		name := j.Job
		if j.Overdue {
			name += " (OVERDUE)"
		}
		p("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, last, outcome, items, errs, ts(j.LastSuccess), every)
	}
	if len(r.Warnings) > 0 {
		p("\nwarnings:\n")
		for _, w := range r.Warnings {
			p("  - %s\n", w)
		}
	}
	if len(r.Problems) == 0 {
		p("\nhealthy\n")
	} else {
		p("\nproblems:\n")
		for _, pr := range r.Problems {
			p("  - %s\n", pr)
		}
	}
	return tw.Flush()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
