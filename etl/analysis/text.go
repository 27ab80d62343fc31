package analysis

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteText writes a summary of the document a person reads.
func WriteText(w io.Writer, d *Document) error {
	var b strings.Builder
	c := d.Changeset
	fmt.Fprintf(&b, "changeset %d by %s (uid %d)\n", c.ID, c.User, c.UID)
	if c.Comment != "" {
		fmt.Fprintf(&b, "  comment: %s\n", c.Comment)
	}
	if c.Editor != "" {
		fmt.Fprintf(&b, "  editor:  %s\n", c.Editor)
	}
	if len(c.Hashtags) > 0 {
		fmt.Fprintf(&b, "  hashtags: %s\n", strings.Join(c.Hashtags, " "))
	}
	state := "closed"
	if c.Open {
		state = "open"
	}
	fmt.Fprintf(&b, "  %s", state)
	if c.CreatedAt != nil {
		fmt.Fprintf(&b, ", created %s", c.CreatedAt.Format("2006-01-02 15:04:05Z"))
	}
	if c.ClosedAt != nil {
		fmt.Fprintf(&b, ", closed %s", c.ClosedAt.Format("2006-01-02 15:04:05Z"))
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "counts (total %d)  node  way  relation\n", d.Counts.Total)
	for _, r := range []struct {
		n string
		t TypeCounts
	}{{"create", d.Counts.Create}, {"modify", d.Counts.Modify}, {"delete", d.Counts.Delete}} {
		fmt.Fprintf(&b, "  %-16s %5d %4d %9d\n", r.n, r.t.Node, r.t.Way, r.t.Relation)
	}
	b.WriteString("\nreasons:\n")
	if len(d.Reasons) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, r := range d.Reasons {
		fmt.Fprintf(&b, "  %-20s %s\n", r.Code, r.Text)
	}
	if len(d.LengthM) > 0 {
		b.WriteString("\nlengths (m):         created    deleted   modified\n")
		keys := make([]string, 0, len(d.LengthM))
		for k := range d.LengthM {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			l := d.LengthM[k]
			fmt.Fprintf(&b, "  %-18s %10.1f %10.1f %+10.1f\n", k, l.Created, l.Deleted, l.Modified)
		}
	}
	writeTop := func(title string, m map[string]int) {
		if len(m) == 0 {
			return
		}
		type kv struct {
			k string
			n int
		}
		var l []kv
		for k, n := range m {
			l = append(l, kv{k, n})
		}
		sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || (l[i].n == l[j].n && l[i].k < l[j].k) })
		fmt.Fprintf(&b, "\n%s:\n", title)
		for i, e := range l {
			if i == 15 {
				fmt.Fprintf(&b, "  … %d more\n", len(l)-15)
				break
			}
			fmt.Fprintf(&b, "  %5d  %s\n", e.n, e.k)
		}
	}
	writeTop("tags added", d.TagSummary.Added)
	writeTop("tags removed", d.TagSummary.Removed)
	writeTop("tags changed", d.TagSummary.Changed)
	if len(d.OtherUsers) > 0 {
		b.WriteString("\nother users' elements edited:\n")
		for _, u := range d.OtherUsers {
			fmt.Fprintf(&b, "  %5d  %s (modified %d, deleted %d)\n", u.Count, u.User, u.Modified, u.Deleted)
		}
	}
	if d.Complete {
		b.WriteString("\ncomplete: yes\n")
	} else {
		fmt.Fprintf(&b, "\ncomplete: no (%s)\n", d.Incomplete)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
