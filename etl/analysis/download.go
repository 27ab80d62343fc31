package analysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
	"github.com/osmtrack/osmtrack/etl/osmchange"
)

// Downloader fetches one path of the OSM API and returns the body of a 200 answer (404 and 410
// as an error matching osmapi.ErrNotFound); *osmapi.Client does (Get). Analysis uses it for
// changeset/ID/download when the store holds only part of a changeset.
type Downloader interface {
	Get(ctx context.Context, path string) ([]byte, error)
}

// Download is the outcome of a changeset download (GET changeset/ID/download).
type Download struct {
	At time.Time
	// Status is the HTTP status: 200, or 404/410 when the API does not have the changeset.
	Status int
	// Versions is how many element versions the answer held; Added how many of them the
	// versions analysed lacked (this download only; 0 for one recorded earlier).
	Versions int
	Added    int
}

// ChangesetMaxLifetime bounds how long a changeset can stay open: the OSM API closes every
// changeset at most 24 hours after it was created (one hour after its last upload). A changeset
// whose metadata still says open 25 hours after its creation is closed: the metadata is stale.
const ChangesetMaxLifetime = 25 * time.Hour

// final reports whether the changeset can no longer change: closed by its metadata, or open by
// it but created more than ChangesetMaxLifetime ago.
func final(m Meta, now time.Time) bool {
	if !m.Open && m.ClosedAt != nil {
		return true
	}
	return m.CreatedAt != nil && now.Sub(*m.CreatedAt) > ChangesetMaxLifetime
}

// complete downloads the whole changeset when its metadata says it has more changes
// (changes_count) than elems holds, the changeset is final, no download was recorded before
// (in.Download), and the API can download; the downloaded versions go into the store. It
// returns elems with the versions they lacked, and sets s.dlNote (why the changeset may still
// be short of versions) and s.stats.Download (the request made, if any). 404 and 410 leave elems
// as they are; other failures are errors (the analysis fails and is retried).
func (s *state) complete(ctx context.Context, in Input, elems []elements.Element, now time.Time) ([]elements.Element, error) {
	m := in.Meta
	if m.ChangesCount <= len(elems) {
		return elems, nil
	}
	if in.Download != nil {
		s.dlNote = downloadNote(m.ID, in.Download)
		return elems, nil
	}
	if !final(m, now) {
		s.dlNote = "; the changeset is open: it is downloaded once it has closed"
		return elems, nil
	}
	dl, ok := s.a.API.(Downloader)
	if !ok || s.a.API == nil {
		s.dlNote = "; no OSM API to download the rest from"
		return elems, nil
	}
	path := fmt.Sprintf("changeset/%d/download", m.ID)
	body, err := dl.Get(ctx, path)
	d := &Download{At: now, Status: 200}
	if errors.Is(err, osmapi.ErrNotFound) {
		d.Status = 404
		var se *osmapi.StatusError
		if errors.As(err, &se) {
			d.Status = se.Code
		}
		s.stats.Download = d
		s.dlNote = downloadNote(m.ID, d)
		s.a.Log.Info("changeset download unavailable", "changeset", m.ID, "err", err)
		return elems, nil
	}
	if err != nil {
		return nil, fmt.Errorf("changeset download: %w", err)
	}
	got, err := decodeDownload(m.ID, body)
	if err != nil {
		return nil, fmt.Errorf("changeset download: GET %s: %w", path, err)
	}
	for i := range got {
		got[i].Source = elements.SourceDownload
	}
	if s.a.Store != nil {
		if err := s.a.Store.Put(ctx, got); err != nil {
			return nil, fmt.Errorf("element store: put changeset download: %w", err)
		}
	}
	have := make(map[elements.VKey]bool, len(elems))
	for i := range elems {
		have[elems[i].VKey()] = true
	}
	out := append([]elements.Element{}, elems...)
	for _, e := range got {
		if !have[e.VKey()] {
			out = append(out, e)
			d.Added++
		}
	}
	d.Versions = len(got)
	s.stats.Download = d
	s.dlNote = downloadNote(m.ID, d)
	s.a.Log.Info("changeset downloaded", "changeset", m.ID, "versions", d.Versions, "added", d.Added, "changes_count", m.ChangesCount)
	return out, nil
}

// downloadNote completes "the element store holds N of the changeset's M changes".
func downloadNote(id int64, d *Download) string {
	if d.Status == 200 {
		return ", its download included"
	}
	return fmt.Sprintf("; its download (changeset/%d/download) answered HTTP %d", id, d.Status)
}

// decodeDownload reads an osmChange download (etl/osmchange: the fast decoder with fallback)
// into versions with their actions, checking that every version belongs to changeset id.
func decodeDownload(id int64, body []byte) ([]elements.Element, error) {
	c, err := osmchange.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	out := make([]elements.Element, 0, len(c.Elements))
	for i := range c.Elements {
		x := &c.Elements[i]
		if x.Changeset != id {
			return nil, fmt.Errorf("%s belongs to changeset %d, not %d", x.Ref(), x.Changeset, id)
		}
		e := elements.Element{Type: x.Type, ID: x.ID, Version: x.Version, Changeset: x.Changeset, Timestamp: x.Timestamp.UTC(), UID: x.UID,
			User: x.User, Visible: x.Visible && x.Action != osmchange.Delete, Action: x.Action,
			Tags: append([]elements.Tag(nil), x.Tags...)}
		switch x.Type {
		case osmchange.Node:
			e.Lat, e.Lon = x.Lat, x.Lon
			e.HasCoords = e.Visible && x.HasCoords
		case osmchange.Way:
			e.Nodes = append([]int64{}, x.Nodes...)
		case osmchange.Relation:
			e.Members = append([]elements.Member{}, x.Members...)
		}
		out = append(out, e)
	}
	elements.Sort(out)
	return out, nil
}
