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
)

// ReadFiles builds the changesets of `osmtrack rules test` from files as the filter step builds
// them from the database: changeset files (changeset replication files or API changeset
// metadata, Decode) give the metadata (a changeset given twice: the last one); osmChange files
// (minutely diffs or changeset downloads, decoded and checked as fetch does) go into an
// in-memory element store as versions from a diff, and Build reads the changesets from it, so an
// element's previous version is its newest earlier version in the files and locations come
// from the files. Every changeset of either kind of file is returned, sorted by id. Files may
// be gzipped.
func ReadFiles(ctx context.Context, changesetFiles, oscFiles []string, regions region.Set) ([]*rules.Changeset, error) {
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
