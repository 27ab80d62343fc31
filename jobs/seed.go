package main

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/replication"
	"github.com/osmtrack/osmtrack/etl/seed"
	"github.com/osmtrack/osmtrack/etl/step"
)

func init() {
	register(&command{name: "seed", summary: "load the regions' current state from an OSM extract into the element store", run: runSeed})
}

const seedUsage = `osmtrack seed --extract FILE|URL [--config FILE] [--set-pointer] [--buffer-m M] [--tmp-dir DIR]

Loads the configured regions from an OSM extract (.osm.pbf, .osm, .osm.gz, .osm.bz2; a file or an
http(s) URL, streamed) into the element store: nodes inside a region (with its buffer_m), every
way with such a node and all its nodes, relations with a kept member (osmium's complete_ways);
with no regions, everything. One transaction: a broken file commits nothing; a second run adds
nothing. --set-pointer also creates the minute and changeset pointers at the extract's
osmosis_replication_timestamp (an error if it has none or a pointer exists); without it no
pointer is touched. Run it before the first fetch.`

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("seed", seedUsage)
	configPath := f.String("config", "", "configuration file")
	extract := f.String("extract", "", "the extract: a file or an http(s) URL (.osm.pbf, .osm, .osm.gz, .osm.bz2)")
	setPointer := f.Bool("set-pointer", false, "create the minute and changeset pointers at the extract's replication timestamp")
	bufferM := f.Float64("buffer-m", 0, "metres added to every region's buffer_m for the seed only: before-states of edits that cross a region's edge are then local too")
	tmpDir := f.String("tmp-dir", "", "where a downloaded extract is spooled for its second pass (default: the system's temporary directory)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *extract == "" {
		return usagef("seed: --extract FILE|URL is required")
	}
	if _, err := seed.FormatOf(*extract); err != nil {
		return usagef("seed: --extract %v", err)
	}
	cfg, _, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *bufferM < 0 || *bufferM > 1e6 {
		return usagef("seed: --buffer-m %g: want 0 to 1000000 metres", *bufferM)
	}
	for name, r := range cfg.Regions {
		r.BufferM += *bufferM
		cfg.Regions[name] = r
	}
	regions, err := region.LoadSet(cfg.Regions)
	if err != nil {
		return usagef("seed: %v", err)
	}
	var src seed.Source
	if seed.IsURL(*extract) {
		c := newDownloadClient(cfg)
		u, err := seed.NewURL(*extract, c)
		if err != nil {
			return usagef("seed: %v", err)
		}
		src = u
	} else {
		file, err := seed.NewFile(*extract)
		if err != nil {
			return usagef("seed: --extract: %v", err)
		}
		src = file
	}

	// The seed holds ids and a few batches; keep the garbage collector close to that so that the
	// peak RSS stays well under 512 MiB on a city-size extract (GOMEMLIMIT overrides).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
	a, err := openApp(ctx, *configPath, "seed")
	if err != nil {
		return err
	}
	defer a.close(ctx)
	a.log.Info("seed", "extract", *extract, "regions", len(regions))
	if len(regions) == 0 {
		a.log.Info("no regions configured: the whole extract is loaded")
	}
	var pointers []seed.Pointer
	if *setPointer {
		rc := newReplicationClient(a.cfg, a.log)
		for _, p := range []struct {
			name, feed, url string
			kind            replication.Kind
		}{
			{a.cfg.Fetch.Pointer, "minute", a.cfg.OSM.ReplicationURL, replication.Minute},
			{a.cfg.Changeset.Pointer, "changesets", a.cfg.OSM.ChangesetReplicationURL, replication.Changesets},
		} {
			feed := replication.NewFeed(p.url, p.kind, rc)
			pointers = append(pointers, seed.Pointer{Name: p.name, Feed: p.feed, Resolve: func(ctx context.Context, t time.Time) (uint64, error) {
				head, err := feed.Head(ctx)
				if err != nil {
					return 0, err
				}
				return feed.SeqAt(ctx, t, head)
			}})
		}
	}
	err = step.Do(ctx, a.db, a.metrics, a.log, "seed", step.Options{Lock: "seed"}, func(ctx context.Context, r *step.Run) error {
		s := src
		if u, ok := src.(*seed.URL); ok && len(regions) > 0 {
			// Two passes over a download: keep a copy on disk, not in memory.
			r.Log.Info("downloading the extract for two passes", "url", u.URL, "dir", *tmpDir)
			sp, err := seed.Spool(ctx, u, *tmpDir)
			if err != nil {
				r.Errors++
				return err
			}
			defer sp.Remove()
			s = sp
		}
		res, err := seed.Run(ctx, a.db, seed.RunOptions{Source: s, Regions: regions, Pointers: pointers, Metrics: a.metrics, Log: r.Log})
		r.Items = int(res.Kept.Total())
		if err != nil {
			r.Errors++
		}
		return err
	})
	if errors.Is(err, seed.ErrPointer) {
		return usagef("%v", err)
	}
	return err
}
