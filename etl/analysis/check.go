package analysis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmapi"
)

// FetchChangeset reads one changeset by id from the OSM API: its metadata with the discussion
// (changeset/ID?include_discussion=true) and its download (changeset/ID/download), as the
// Input of an analysis (`osmtrack check`). A changeset the API does not have is an error
// matching osmapi.ErrNotFound; a download the API does not have (404, 410) leaves Elems empty
// and is recorded in Input.Download so that the analysis says so.
func FetchChangeset(ctx context.Context, api Downloader, id int64, now time.Time) (Input, error) {
	if id <= 0 {
		return Input{}, fmt.Errorf("changeset id %d is not positive", id)
	}
	metaPath := fmt.Sprintf("changeset/%d?include_discussion=true", id)
	body, err := api.Get(ctx, metaPath)
	if err != nil {
		return Input{}, fmt.Errorf("changeset %d: metadata: %w", id, err)
	}
	m, err := DecodeMeta(bytes.NewReader(body), "GET "+metaPath)
	if err != nil {
		return Input{}, fmt.Errorf("changeset %d: %w", id, err)
	}
	if m.ID != id {
		return Input{}, fmt.Errorf("changeset %d: GET %s answered changeset %d", id, metaPath, m.ID)
	}
	dlPath := fmt.Sprintf("changeset/%d/download", id)
	in := Input{Meta: m, Source: "GET " + dlPath, Download: &Download{At: now, Status: 200}}
	body, err = api.Get(ctx, dlPath)
	if errors.Is(err, osmapi.ErrNotFound) {
		in.Download.Status = 404
		var se *osmapi.StatusError
		if errors.As(err, &se) {
			in.Download.Status = se.Code
		}
		return in, nil
	}
	if err != nil {
		return Input{}, fmt.Errorf("changeset %d: download: %w", id, err)
	}
	in.Elems, err = decodeDownload(id, body)
	if err != nil {
		return Input{}, fmt.Errorf("changeset %d: GET %s: %w", id, dlPath, err)
	}
	in.Download.Versions = len(in.Elems)
	return in, nil
}

// Overlay is a Store and UserCache that reads from Base (the element store, may be nil) and
// keeps what the analysis puts (the API's answers) in memory: analysing through it leaves Base
// unchanged. `osmtrack check` reads a deployment's element store this way.
type Overlay struct {
	Base Store
	Mem  *MemStore
}

// NewOverlay reads from base (nil: memory only).
func NewOverlay(base Store) *Overlay { return &Overlay{Base: base, Mem: NewMemStore(nil)} }

// Versions returns the versions held in memory or by Base.
func (o *Overlay) Versions(ctx context.Context, keys []elements.VKey) ([]elements.Element, error) {
	out, err := o.Mem.Versions(ctx, keys)
	if err != nil || o.Base == nil {
		return out, err
	}
	have := make(map[elements.VKey]bool, len(out))
	for i := range out {
		have[out[i].VKey()] = true
	}
	var rest []elements.VKey
	for _, k := range keys {
		if !have[k] {
			rest = append(rest, k)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	more, err := o.Base.Versions(ctx, rest)
	return append(out, more...), err
}

// History returns every version held in memory or by Base.
func (o *Overlay) History(ctx context.Context, keys []elements.Key) ([]elements.Element, error) {
	out, err := o.Mem.History(ctx, keys)
	if err != nil || o.Base == nil {
		return out, err
	}
	more, err := o.Base.History(ctx, keys)
	if err != nil {
		return nil, err
	}
	return mergeVersions(out, more), nil
}

// Put keeps versions in memory only.
func (o *Overlay) Put(ctx context.Context, elems []elements.Element) error {
	return o.Mem.Put(ctx, elems)
}

// WaysWithNodes lists the ways referencing nodes, in memory and in Base when it can.
func (o *Overlay) WaysWithNodes(ctx context.Context, nodes []int64) ([]elements.Element, error) {
	out, err := o.Mem.WaysWithNodes(ctx, nodes)
	if err != nil {
		return nil, err
	}
	if wf, ok := o.Base.(WayFinder); ok && o.Base != nil {
		more, err := wf.WaysWithNodes(ctx, nodes)
		if err != nil {
			return nil, err
		}
		out = mergeVersions(out, more)
	}
	return out, nil
}

// CachedUser reads the user cache of Base when it has one, then memory.
func (o *Overlay) CachedUser(ctx context.Context, uid int64, day time.Time) (osmapi.User, bool, error) {
	if uc, ok := o.Base.(UserCache); ok && o.Base != nil {
		if u, found, err := uc.CachedUser(ctx, uid, day); err != nil || found {
			return u, found, err
		}
	}
	return o.Mem.CachedUser(ctx, uid, day)
}

// PutUser keeps the user in memory only.
func (o *Overlay) PutUser(ctx context.Context, u osmapi.User, day time.Time) error {
	return o.Mem.PutUser(ctx, u, day)
}

// mergeVersions is a and the versions of b that a lacks.
func mergeVersions(a, b []elements.Element) []elements.Element {
	have := make(map[elements.VKey]bool, len(a))
	for i := range a {
		have[a[i].VKey()] = true
	}
	for _, e := range b {
		if !have[e.VKey()] {
			a = append(a, e)
			have[e.VKey()] = true
		}
	}
	return a
}
