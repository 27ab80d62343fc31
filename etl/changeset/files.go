package changeset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/osmchange"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
	"github.com/osmtrack/osmtrack/etl/seed"
	"github.com/paulmach/osm"
)

// Files are the inputs of ReadFiles.
type Files struct {
	Changesets []string // changeset replication files or API changeset metadata (.osm, .osm.gz)
	OSC        []string // osmChange files: minutely diffs or changeset downloads (.osc, .osc.gz)
	// Extracts are OSM extracts (.osm.pbf, .osm, .osm.gz, .osm.bz2) read as `osmtrack seed`
	// reads them: what the element store held before the osmChange files.
	Extracts []string
}

// ReadFiles builds the changesets of `osmtrack rules test` from files as the filter step builds
// them from the database: changeset files (Decode) give the metadata (a changeset given twice:
// the last one); extracts go into an in-memory element store as `osmtrack seed` loads them
// (the elements the regions need, or everything without regions; versions from the seed), and
// osmChange files (decoded and checked as fetch does) as versions from a diff; Build then reads
// the changesets from that store, so an element's previous version is its newest earlier version
// in the files and locations come from the files. Every changeset of the changeset and
// osmChange files is returned, sorted by id. Changeset and osmChange files may be gzipped.
func ReadFiles(ctx context.Context, files Files, regions region.Set) ([]*rules.Changeset, error) {
	changesetFiles, oscFiles := files.Changesets, files.OSC
	metas := map[int64]Meta{}
	for _, f := range changesetFiles {
		data, err := readFile(f)
		if err != nil {
			return nil, err
		}
		ms, err := Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, m := range ms {
			metas[m.ID] = m
		}
	}
	st := &elements.Mem{}
	for _, f := range files.Extracts {
		if err := readExtract(ctx, f, st, regions); err != nil {
			return nil, err
		}
	}
	for _, f := range oscFiles {
		data, err := readFile(f)
		if err != nil {
			return nil, err
		}
		c, err := osmchange.Decode(data)
		if err == nil {
			err = c.Check()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i := range c.Elements {
			if id := c.Elements[i].Changeset; metas[id].ID == 0 {
				metas[id] = Meta{ID: id}
			}
		}
		if err := st.Write(ctx, c.Elements, elements.SourceDiff, 0, false); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	list := make([]Meta, 0, len(metas))
	for _, m := range metas {
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return Build(ctx, st, regions, list)
}

// readFile reads a file, gunzipping it when it starts with gzip's magic bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gunzip: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// memWriter writes an extract's kept elements into the in-memory store as the seed's versions.
type memWriter struct{ st *elements.Mem }

func (w memWriter) Write(ctx context.Context, batch []osm.Object) error {
	els := make([]elements.Element, len(batch))
	for i, o := range batch {
		els[i] = seed.FromOSM(o)
	}
	return w.st.Write(ctx, els, elements.SourceSeed, 0, false)
}

// readExtract loads an extract as `osmtrack seed` does (etl/seed's selection).
func readExtract(ctx context.Context, path string, st *elements.Mem, regions region.Set) error {
	src, err := seed.NewFile(path)
	if err != nil {
		return err
	}
	if _, err := seed.Load(ctx, src, memWriter{st}, seed.Options{Regions: regions}); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
