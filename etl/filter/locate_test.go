package filter

import (
	"strings"
	"testing"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// TestDeletedWaysAndDraggedNodes: a deleted way is located by its previous version's nodes; a
// node of an in-region way moved while it is outside the region (dragged away earlier) edits
// that way; a lone node outside stays outside.
func TestDeletedWaysAndDraggedNodes(t *testing.T) {
	db := dbtest.PG(t).Pool
	set := ruleSet(t, "labels: []\n", berlin(t))
	// The store (a seed, say): nodes 200, 201, 300, 301 in Berlin, way 8 {200,201}, way 9 {300,301}.
	addChangeset(t, db, 5, true, nil, `{}`)
	exec(t, db, `UPDATE changesets SET state = 'done' WHERE id = 5`)
	for _, id := range []int64{200, 201, 300, 301} {
		addNode(t, db, 5, id, 1, "create", f64(13.40+float64(id%10)/100), f64(52.52), `{}`)
	}
	exec(t, db, `INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, nodes) VALUES
		('w', 8, 1, 5, now(), true, 'create', '{"building":"yes"}', '{200,201}'),
		('w', 9, 1, 5, now(), true, 'create', '{"highway":"residential"}', '{300,301}')`)
	// Changeset 6 (done) dragged node 300 to Munich; changeset 21 drags it further.
	addChangeset(t, db, 6, true, nil, `{}`)
	exec(t, db, `UPDATE changesets SET state = 'done' WHERE id = 6`)
	addNode(t, db, 6, 300, 2, "modify", f64(11.5), f64(48.1), `{}`)
	addChangeset(t, db, 21, true, nil, `{}`)
	addNode(t, db, 21, 300, 3, "modify", f64(11.6), f64(48.2), `{}`)
	// Changeset 20 deletes way 8.
	addChangeset(t, db, 20, true, nil, `{}`)
	exec(t, db, `INSERT INTO elements (type, id, version, changeset, ts, visible, action, tags, nodes)
		VALUES ('w', 8, 2, 20, now(), false, 'delete', '{}', '{}')`)
	// Changeset 22 moves a lone node in Munich.
	addNode(t, db, 5, 400, 1, "create", f64(11.5), f64(48.1), `{}`)
	addChangeset(t, db, 22, true, nil, `{}`)
	addNode(t, db, 22, 400, 2, "modify", f64(11.51), f64(48.1), `{}`)

	if _, err := (&Filter{DB: db, Rules: set}).Run(ctx, Options{BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cs     int64
		state  string
		reason string
	}{
		{20, "filtered", "of deleted way/8"},
		{21, "filtered", "which has the edited node/300"},
		{22, "dropped", "none of"},
	} {
		if s, r := stateOf(t, db, c.cs); s != c.state || !strings.Contains(r, c.reason) {
			t.Errorf("changeset %d: %s %q, want %s with %q", c.cs, s, r, c.state, c.reason)
		}
	}
}
