package site

import (
	"strings"
	"testing"
)

// Two different lists of values never make one fragment key.
func TestFragKeyUnambiguous(t *testing.T) {
	keys := map[string]string{}
	for name, k := range map[string]*fragKey{
		"ab,c":     newFragKey("x").str("ab").str("c"),
		"a,bc":     newFragKey("x").str("a").str("bc"),
		"a\\x00,c": newFragKey("x").str("a\x00").str("c"),
		"a,\\x00c": newFragKey("x").str("a").str("\x00c"),
		"a,1":      newFragKey("x").str("a").num(1),
		"a1":       newFragKey("x").str("a1"),
		"y:ab,c":   newFragKey("y").str("ab").str("c"),
	} {
		if other, dup := keys[k.String()]; dup {
			t.Errorf("%s and %s have the same key %q", name, other, k.String())
		}
		keys[k.String()] = name
	}
}

// A cached fragment is the one of its own values: same name, other uid; other label; a name
// with markup (escaped each time, never served from another's entry).
func TestRenderPartsCachedPerValue(t *testing.T) {
	tpl, err := getTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		e    *Entry
		want []string
	}{
		{&Entry{ID: 1, User: "anna", UID: 7, Labels: []string{"roads"}}, []string{`href="users/7.html"`, `labels/roads.html`}},
		{&Entry{ID: 2, User: "anna", UID: 8, Labels: []string{"shops"}}, []string{`href="users/8.html"`, `labels/shops.html`}},
		{&Entry{ID: 3, User: "<b>x</b>", UID: 9}, []string{`&lt;b&gt;x&lt;/b&gt;`}},
		{&Entry{ID: 4, User: "anna", UID: 7, Labels: []string{"roads"}}, []string{`href="users/7.html"`, `labels/roads.html`}},
	} {
		for round := 0; round < 2; round++ {
			p, err := tpl.renderParts(c.e)
			if err != nil {
				t.Fatal(err)
			}
			all := string(p.User + p.Badges + p.Counts + p.Links)
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("entry %d round %d: no %s in %s", c.e.ID, round, w, all)
				}
			}
			if strings.Contains(all, "<b>") {
				t.Errorf("entry %d: markup not escaped: %s", c.e.ID, all)
			}
		}
	}
}
