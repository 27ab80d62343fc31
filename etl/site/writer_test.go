package site

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHashStringIsHashBytes(t *testing.T) {
	for _, s := range []string{"", "a", "<article class=\"entry\">…</article>", string(make([]byte, 5000))} {
		if hashString(s) != hashBytes([]byte(s)) {
			t.Errorf("hashString(%.20q) != hashBytes", s)
		}
	}
}

// writeNew never writes through an existing file (a reader may have it open, or it is a hard
// link elsewhere): it renames a new file over it.
func TestWriteNewReplacesLinkWithoutTouchingIt(t *testing.T) {
	dir := t.TempDir()
	old, p := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	if err := os.WriteFile(old, []byte("previous build"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(old, p); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(p, []byte("this build"), 1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(old); string(b) != "previous build" {
		t.Errorf("old file = %q", b)
	}
	if b, _ := os.ReadFile(p); string(b) != "this build" {
		t.Errorf("new file = %q", b)
	}
	if err := writeNew(filepath.Join(dir, "missing", "x"), nil, 2); err == nil {
		t.Error("writeNew into a missing folder: no error")
	}
	if es, _ := os.ReadDir(dir); len(es) != 2 {
		t.Errorf("files left: %v", es)
	}
}

// writeFile creates a file that is not there in place and replaces one that is by a rename,
// never writing through it (a reader may have it open, or it is a hard link elsewhere).
func TestWriteFileCreatesNewReplacesExisting(t *testing.T) {
	out := t.TempDir()
	b, err := newBuilder(out)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(b.dir, "changesets", "1.html")
	if err := b.writeFile("changesets/1.html", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "first" {
		t.Fatalf("new file = %q", got)
	}
	other := filepath.Join(out, "elsewhere")
	if err := os.Link(p, other); err != nil {
		t.Fatal(err)
	}
	if err := b.writeFile("changesets/1.html", []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "second" {
		t.Errorf("replaced file = %q", got)
	}
	if got, _ := os.ReadFile(other); string(got) != "first" {
		t.Errorf("the old file was written through: %q", got)
	}
	if created, err := createNew(p, []byte("third")); created || err != nil {
		t.Errorf("createNew over an existing file: created %v, err %v", created, err)
	}
	if es, _ := os.ReadDir(filepath.Dir(p)); len(es) != 1 {
		t.Errorf("files left: %v", es)
	}
	if _, err := createNew(filepath.Join(out, "missing", "x"), nil); err == nil {
		t.Error("createNew into a missing folder: no error")
	}
}

// A tree that is empty (or missing) when the run begins is fresh: a full run into it does not
// sweep it. One with anything in it is not.
func TestBuilderFresh(t *testing.T) {
	out := t.TempDir()
	for i, c := range []struct {
		before func()
		fresh  bool
	}{
		{func() {}, true},
		{func() { os.MkdirAll(filepath.Join(out, treeDir), 0o755) }, true},
		{func() { os.WriteFile(filepath.Join(out, treeDir, ".publish-tmp-1-x.html"), nil, 0o644) }, false},
	} {
		c.before()
		b, err := newBuilder(out)
		if err != nil {
			t.Fatal(err)
		}
		if b.fresh != c.fresh {
			t.Errorf("case %d: fresh %v, want %v", i, b.fresh, c.fresh)
		}
	}
}
