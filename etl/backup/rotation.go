package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Backup is one complete backup found in a folder.
type Backup struct {
	Kind     string    // "postgis" or "influxdb"
	Time     time.Time // from the name
	Path     string    // the .dump file, or the influxdb folder
	Manifest string    // the manifest's path
}

// List returns the complete backups (those with a manifest) of kind in dir, newest first.
func List(dir, kind string) ([]Backup, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	prefix := "osmtrack-" + kind + "-"
	var out []Backup
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		rest := strings.TrimPrefix(name, prefix)
		var b Backup
		switch kind {
		case "postgis":
			if e.IsDir() || !strings.HasSuffix(rest, ".dump") {
				continue
			}
			b = Backup{Path: filepath.Join(dir, name), Manifest: filepath.Join(dir, strings.TrimSuffix(name, ".dump")+".manifest.json")}
			rest = strings.TrimSuffix(rest, ".dump")
		default:
			if !e.IsDir() {
				continue
			}
			b = Backup{Path: filepath.Join(dir, name), Manifest: filepath.Join(dir, name, "manifest.json")}
		}
		t, err := time.Parse("20060102T150405Z", rest)
		if err != nil {
			continue
		}
		if _, err := os.Stat(b.Manifest); err != nil {
			continue // incomplete: not a backup
		}
		b.Kind, b.Time = kind, t
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// Rotate keeps, of the complete backups of kind in dir, the newest of each of the last daily
// days that have one and the newest of each of the last weekly ISO weeks that have one, and
// removes the others. It returns the removed paths. With daily and weekly both 0 it keeps all.
func Rotate(dir, kind string, daily, weekly int) ([]string, error) {
	if daily <= 0 && weekly <= 0 {
		return nil, nil
	}
	bs, err := List(dir, kind)
	if err != nil {
		return nil, err
	}
	keep := keepSet(bs, daily, weekly)
	var removed []string
	for i, b := range bs {
		if keep[i] {
			continue
		}
		// The manifest goes first: a half-removed backup is then incomplete, never "complete but broken".
		if err := os.Remove(b.Manifest); err != nil && !os.IsNotExist(err) {
			return removed, err
		}
		if err := os.RemoveAll(b.Path); err != nil {
			return removed, err
		}
		removed = append(removed, b.Path)
	}
	return removed, nil
}

// keepSet returns the indexes (into bs, newest first) that rotation keeps.
func keepSet(bs []Backup, daily, weekly int) map[int]bool {
	keep := map[int]bool{}
	days := map[string]bool{}
	weeks := map[string]bool{}
	for i, b := range bs {
		t := b.Time.UTC()
		d := t.Format("2006-01-02")
		if !days[d] && len(days) < daily {
			days[d] = true
			keep[i] = true
		}
		y, w := t.ISOWeek()
		wk := fmt.Sprintf("%d-W%02d", y, w)
		if !weeks[wk] && len(weeks) < weekly {
			weeks[wk] = true
			keep[i] = true
		}
	}
	return keep
}
