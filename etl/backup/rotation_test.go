package backup

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	// Two backups a day (03:00 and 15:00) for 60 days ending Sunday 2026-11-22, and one
	// incomplete (no manifest) and one foreign file.
	end := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	for h := 0; h < 120; h++ {
		ts := end.Add(-time.Duration(h) * 12 * time.Hour)
		base := filepath.Join(dir, "osmtrack-postgis-"+stamp(ts))
		os.WriteFile(base+".dump", []byte("x"), 0o600)
		os.WriteFile(base+".manifest.json", []byte("{}"), 0o600)
	}
	incomplete := filepath.Join(dir, "osmtrack-postgis-"+stamp(end.Add(-100*24*time.Hour))+".dump")
	os.WriteFile(incomplete, []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600)
	// An influxdb backup is a folder and rotates separately.
	idir := filepath.Join(dir, "osmtrack-influxdb-"+stamp(end.Add(-50*24*time.Hour)))
	os.Mkdir(idir, 0o700)
	os.WriteFile(filepath.Join(idir, "manifest.json"), []byte("{}"), 0o600)

	removed, err := Rotate(dir, "postgis", 7, 4)
	if err != nil {
		t.Fatal(err)
	}
	left, err := List(dir, "postgis")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range left {
		got = append(got, b.Time.Format("2006-01-02T15"))
	}
	// Daily: the newest of each of the last 7 days (Nov 16–22, 15:00). Weekly: the newest of
	// each of the last 4 ISO weeks (weeks ending Nov 22, 15, 8, 1 — Sundays at 15:00).
	want := []string{
		"2026-11-22T15", "2026-11-21T15", "2026-11-20T15", "2026-11-19T15", "2026-11-18T15", "2026-11-17T15", "2026-11-16T15",
		"2026-11-15T15", "2026-11-08T15", "2026-11-01T15",
	}
	if len(got) != len(want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("kept %v, want %v", got, want)
		}
	}
	if len(removed) != 120-len(want) {
		t.Errorf("removed %d, want %d", len(removed), 120-len(want))
	}
	for _, p := range []string{incomplete, filepath.Join(dir, "notes.txt"), idir} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	// Only the kept backups' files remain (dump and manifest each).
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 2*len(want)+3 {
		t.Errorf("files left: %v", names)
	}
	// A second rotation removes nothing; 0/0 keeps everything.
	if r, err := Rotate(dir, "postgis", 7, 4); err != nil || len(r) != 0 {
		t.Errorf("second rotation removed %v %v", r, err)
	}
	if r, err := Rotate(dir, "postgis", 0, 0); err != nil || len(r) != 0 {
		t.Errorf("0/0 rotation removed %v %v", r, err)
	}
}
