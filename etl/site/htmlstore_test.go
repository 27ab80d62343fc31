package site

import (
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHTMLStore: a full run's file, an incremental run appending to it (the old offsets stay
// valid), and the compaction when most of the file is no longer used.
func TestHTMLStore(t *testing.T) {
	dir := t.TempDir()
	html := func(id int64, v int) []byte { return []byte(fmt.Sprintf("<article id=%d>version %d</article>", id, v)) }
	entries := map[int64]*Entry{}
	s, err := openHTMLStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 10; id++ {
		entries[id] = &Entry{ID: id}
		if err := s.put(entries[id], html(id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *htmlStore, want map[int64]int) {
		t.Helper()
		for id, v := range want {
			var got template.HTML
			err := s.withHTML([]*Entry{entries[id]}, func(hs []template.HTML) error {
				got = template.HTML(strings.Clone(string(hs[0])))
				return nil
			})
			if err != nil || got != template.HTML(html(id, v)) {
				t.Errorf("changeset %d: %q, %v; want version %d", id, got, err, v)
			}
		}
	}
	check(s, map[int64]int{1: 1, 10: 1})
	if _, err := os.Stat(filepath.Join(dir, htmlFile)); !os.IsNotExist(err) {
		t.Error("a full run's file is in place before commit")
	}
	if moved, err := s.commit(entries); err != nil || moved {
		t.Fatal(moved, err)
	}
	s.close()

	// Incremental: 3 rendered again, appended.
	s, err = openHTMLStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	s.slack = 0
	for _, id := range []int64{2, 3, 4} {
		if err := s.put(entries[id], html(id, 2)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{1, 5, 6, 7, 8, 9, 10} {
		s.keep(entries[id]) // the others, kept as they were
	}
	check(s, map[int64]int{1: 1, 2: 2, 4: 2, 5: 1})
	if moved, err := s.commit(entries); err != nil || moved {
		t.Fatal("compacted too early", moved, err)
	}
	s.close()
	// Most rendered again and 5..10 gone: compacted.
	s, _ = openHTMLStore(dir, false)
	s.slack = 0
	for id := int64(5); id <= 10; id++ {
		delete(entries, id)
	}
	for _, id := range []int64{1, 2, 3} {
		s.put(entries[id], html(id, 3))
	}
	s.keep(entries[4])
	if moved, err := s.commit(entries); err != nil || !moved {
		t.Fatal("not compacted", moved, err)
	}
	check(s, map[int64]int{1: 3, 2: 3, 3: 3, 4: 2})
	s.close()
	fi, _ := os.Stat(filepath.Join(dir, htmlFile))
	var live int64
	for _, e := range entries {
		live += int64(e.HTMLLen)
	}
	if fi.Size() != live {
		t.Errorf("compacted file: %d bytes, live %d", fi.Size(), live)
	}
	s, _ = openHTMLStore(dir, false)
	check(s, map[int64]int{1: 3, 4: 2})
	s.close()
	// A broken offset is an error naming the changeset.
	if err := s.withHTML([]*Entry{{ID: 99, HTMLAt: 1 << 40, HTMLLen: 5}}, func([]template.HTML) error { return nil }); err == nil {
		t.Error("no error for an offset outside the file")
	}
}
