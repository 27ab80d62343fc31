package site

import (
	"fmt"
	"html/template"
	"reflect"
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

// The changeset page's user card and users are each their own: two cards of one user that
// differ in one value, two users of one name.
func TestCacheFragmentsPerValue(t *testing.T) {
	tpl, err := getTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for _, c := range []struct {
			v    *csView
			want string
		}{
			{&csView{Card: &userCard{User: "anna", Known: true, Age: "3 days", Created: "2026-11-27"}}, "3 days"},
			{&csView{Card: &userCard{User: "anna", Known: true, Age: "4 days", Created: "2026-11-27"}}, "4 days"},
			{&csView{Card: &userCard{User: "anna", Known: true, Age: "4 days", Created: "2026-11-27", BlocksActive: 1}}, "1 active"},
		} {
			if err := tpl.cacheFragments(c.v); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(c.v.CardHTML), c.want) {
				t.Errorf("round %d: card without %q: %s", round, c.want, c.v.CardHTML)
			}
		}
		v := &csView{OtherUsers: []otherUser{{User: "bob", UID: 1}, {User: "bob", UID: 2}}, Discussion: []commentView{{User: "bob", UID: 3}},
			Tags:    []kv{{"source", "survey"}, {"source:date", "<2026>"}},
			Lengths: []lengthView{{Key: "highway=track", Created: "1.00"}, {Key: "highway=track", Created: "1.01"}},
			Elements: []elemView{{Rows: []diffRow{{Class: "added", K: "name", New: "A"}}}, {Rows: []diffRow{{Class: "added", K: "name", New: "B"},
				{Class: "removed", K: "name", Old: "A"}}}}}
		if err := tpl.cacheFragments(v); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			got  template.HTML
			want string
		}{
			{v.TagsHTML, `<tr><th><bdi>source</bdi></th><td><bdi>survey</bdi></td></tr><tr><th><bdi>source:date</bdi></th><td><bdi>&lt;2026&gt;</bdi></td></tr>`},
			{v.LengthsHTML, `<td>1.00</td><td></td><td></td></tr><tr><th><bdi>highway=track</bdi></th><td>1.01</td>`},
			{v.Elements[0].RowsHTML, `<tr class="added"><th><bdi>name</bdi></th><td><bdi></bdi></td><td><bdi>A</bdi></td></tr>`},
			{v.Elements[1].RowsHTML, `<tr class="added"><th><bdi>name</bdi></th><td><bdi></bdi></td><td><bdi>B</bdi></td></tr><tr class="removed"><th><bdi>name</bdi></th><td><bdi>A</bdi></td><td><bdi></bdi></td></tr>`},
		} {
			if !strings.Contains(string(c.got), c.want) {
				t.Errorf("round %d: rows %s, want %s", round, c.got, c.want)
			}
		}
		for i, h := range []template.HTML{v.OtherUsers[0].UserHTML, v.OtherUsers[1].UserHTML, v.Discussion[0].UserHTML} {
			if want := fmt.Sprintf(`href="users/%d.html"`, i+1); !strings.Contains(string(h), want) {
				t.Errorf("round %d: user %d without %s: %s", round, i, want, h)
			}
		}
	}
}

// The fragment keys name every field of the values they are rendered from: a field added to
// one of these types must be added to its key (renderParts, render, cacheFragments), or two
// values that differ only in it would share a fragment.
func TestFragKeysKnowEveryField(t *testing.T) {
	for _, c := range []struct {
		v    any
		n    int
		note string
	}{
		{userCard{}, 16, "cacheFragments' usercard key"},
		{badgesView{}, 5, "renderParts' badges key"},
		{Badge{}, 3, "renderParts' badges key"},
		{linkView{}, 3, "renderParts' badges key (Text, Href; Local is not shown by badges)"},
		{reasonView{}, 4, "renderParts' badges key (Code, Name: what badges shows)"},
		{feedLink{}, 3, "render's feeds key"},
		{kv{}, 2, "cacheFragments' tagrow key"},
		{lengthView{}, 4, "cacheFragments' lenrow key"},
		{tagCount{}, 3, "cacheFragments' sumrow key"},
		{diffRow{}, 4, "cacheFragments' diffrow key"},
		{userRef{}, 2, "userHTML's key"},
	} {
		if got := reflect.TypeOf(c.v).NumField(); got != c.n {
			t.Errorf("%T has %d fields, the key knows %d: add the new one to %s", c.v, got, c.n, c.note)
		}
	}
}
