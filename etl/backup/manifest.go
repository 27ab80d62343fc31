// Package backup backs up and restores osmtrack's PostGIS database (pg_dump) and InfluxDB
// database (influxd backup -portable): manifests with checksums and counts, verification,
// restores that refuse to overwrite data, and rotation of daily and weekly backups.
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ManifestFormat is the version of the manifest's JSON shape.
const ManifestFormat = 1

// Manifest describes one backup: what it holds and how to check that its files are whole.
// A backup without a manifest is incomplete and is never restored nor counted by rotation.
type Manifest struct {
	Format          int            `json:"format"`
	Kind            string         `json:"kind"` // "postgis" or "influxdb"
	CreatedAt       time.Time      `json:"created_at"`
	OsmtrackVersion string         `json:"osmtrack_version"`
	SchemaVersion   int            `json:"schema_version"` // PostGIS: highest applied migration
	Database        string         `json:"database"`
	Files           []ManifestFile `json:"files"`

	// PostGIS: rows per table of the dump (counted in the dump's snapshot) and the
	// replication pointers, so that one can see where fetching resumes after a restore.
	RowCounts map[string]int64 `json:"row_counts,omitempty"`
	Pointers  map[string]int64 `json:"pointers,omitempty"`

	// InfluxDB: what the database held and whom it was granted to.
	Influx *InfluxContents `json:"influxdb,omitempty"`
}

// ManifestFile is one file of a backup, relative to the manifest's folder.
type ManifestFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// InfluxContents is the content summary of an InfluxDB backup.
type InfluxContents struct {
	Series int64                       `json:"series"`
	Fields map[string]map[string]int64 `json:"fields"` // measurement → field → count of values
	Grants []InfluxGrant               `json:"grants"` // non-admin users' privileges on the database
}

// InfluxGrant is one user's privilege on the backed-up database.
type InfluxGrant struct {
	User      string `json:"user"`
	Privilege string `json:"privilege"` // READ, WRITE or ALL PRIVILEGES
}

// CorruptError is a backup that fails verification: missing, truncated or altered files, or
// an unreadable manifest. Nothing was touched when it is returned.
type CorruptError struct {
	Path string
	Msg  string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("backup %s: %s; nothing was restored", e.Path, e.Msg)
}

// RefusedError is a restore refused before touching anything (a target holding data without
// --force, a backup from a newer schema); the command exits 2.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// fileSum returns the size and hex sha256 of the file at path.
func fileSum(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// describe returns the ManifestFile of dir/name.
func describe(dir, name string) (ManifestFile, error) {
	size, sum, err := fileSum(filepath.Join(dir, name))
	if err != nil {
		return ManifestFile{}, err
	}
	return ManifestFile{Name: name, Size: size, SHA256: sum}, nil
}

// writeManifest writes m to path atomically (temporary file, fsync, rename).
func writeManifest(path string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// ReadManifest reads and checks the shape of a manifest; kind must match when not empty.
func ReadManifest(path, kind string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &CorruptError{Path: path, Msg: "no manifest (an incomplete backup?)"}
		}
		return nil, &CorruptError{Path: path, Msg: err.Error()}
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &CorruptError{Path: path, Msg: "manifest: " + err.Error()}
	}
	switch {
	case m.Format != ManifestFormat:
		return nil, &CorruptError{Path: path, Msg: fmt.Sprintf("manifest format %d, this binary reads %d", m.Format, ManifestFormat)}
	case kind != "" && m.Kind != kind:
		return nil, &CorruptError{Path: path, Msg: fmt.Sprintf("manifest is of a %s backup, not %s", m.Kind, kind)}
	case len(m.Files) == 0:
		return nil, &CorruptError{Path: path, Msg: "manifest lists no files"}
	}
	return &m, nil
}

// Verify checks that every file of the manifest, in dir, has its size and sha256.
func (m *Manifest) Verify(dir string) error {
	for _, f := range m.Files {
		if f.Name == "" || filepath.Base(f.Name) != f.Name {
			return &CorruptError{Path: dir, Msg: fmt.Sprintf("manifest names a file outside the backup: %q", f.Name)}
		}
		p := filepath.Join(dir, f.Name)
		size, sum, err := fileSum(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return &CorruptError{Path: p, Msg: "file is missing"}
		case err != nil:
			return &CorruptError{Path: p, Msg: err.Error()}
		case size != f.Size:
			return &CorruptError{Path: p, Msg: fmt.Sprintf("size %d bytes, the manifest says %d (truncated?)", size, f.Size)}
		case sum != f.SHA256:
			return &CorruptError{Path: p, Msg: fmt.Sprintf("sha256 %s, the manifest says %s (corrupted)", sum, f.SHA256)}
		}
	}
	return nil
}

// stamp formats a backup's time for file names; it sorts as text.
func stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
