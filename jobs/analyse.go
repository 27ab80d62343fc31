package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/osmtrack/osmtrack/etl/analysis"
	"github.com/osmtrack/osmtrack/etl/elements"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
	"github.com/osmtrack/osmtrack/etl/step"
)

func init() {
	register(&command{name: "analyse", summary: "analyse filtered changesets: documents, reasons, analysis labels", run: runAnalyse})
	register(&command{name: "analyse-file", summary: "analyse one changeset from files (no database; no network unless --api)", run: runAnalyseFile})
}

func runAnalyse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("analyse", "osmtrack analyse [--config FILE] [--limit N] [--no-api]")
	configPath := f.String("config", "", "configuration file")
	limit := f.Int("limit", 0, "analyse at most this many changesets (0: until none is left or analyse.max_duration)")
	noAPI := f.Bool("no-api", false, "never call the OSM API (before-states from the store only)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("analyse: --limit must not be negative")
	}
	a, err := openApp(ctx, *configPath, "analyse")
	if err != nil {
		return err
	}
	defer a.close(ctx)
	regions, err := region.LoadSet(a.cfg.Regions)
	if err != nil {
		return usagef("analyse: %v", err)
	}
	rs, err := rules.Load(a.cfg, regions)
	if err != nil {
		return usagef("analyse: %v", err)
	}
	w := &analysis.Worker{DB: a.db, Config: a.cfg.Analyse, Rules: rs, Metrics: a.metrics, Limit: *limit}
	if !*noAPI {
		c, err := newAPIClient(a.cfg, "", a.log)
		if err != nil {
			return err
		}
		w.API, w.Users = c, c
	}
	// Changesets are claimed row by row with FOR UPDATE SKIP LOCKED, so several runs share the
	// work: the step lock is per run, never contended.
	return step.Do(ctx, a.db, a.metrics, a.log, "analyse", step.Options{Lock: "analyse:" + step.NewRunID()}, func(ctx context.Context, r *step.Run) error {
		w.Log = r.Log
		st, err := w.Run(ctx)
		r.Items, r.Errors = st.Analysed, st.Failed
		if err == nil && st.Analysed == 0 && st.Failed == 0 {
			r.Log.Info("nothing to analyse")
		}
		return err
	})
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runAnalyseFile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("analyse-file", "osmtrack analyse-file --meta META.xml --osc DOWNLOAD.osc [--history FILE.osm …] [--api URL] [--config FILE] [--format json|text]")
	meta := f.String("meta", "", "changeset metadata as /api/0.6/changeset/ID serves it")
	osc := f.String("osc", "", "changeset download as /api/0.6/changeset/ID/download serves it")
	var history stringList
	f.Var(&history, "history", "OSM XML file with previous versions (repeatable)")
	api := f.String("api", "", "OSM API base URL to fetch what the history files lack (default: no network)")
	configPath := f.String("config", "", "configuration file")
	format := f.String("format", "json", "json or text")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *meta == "" || *osc == "" {
		f.printUsage(stderr)
		return usagef("analyse-file: --meta and --osc are required")
	}
	if *format != "json" && *format != "text" {
		return usagef("analyse-file: --format %q is not json or text", *format)
	}
	cfg, log, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	m, err := analysis.ReadMeta(*meta)
	if err != nil {
		return inputErr(err)
	}
	elems, err := analysis.ReadElements(*osc)
	if err != nil {
		return inputErr(err)
	}
	var hist []elements.Element
	for _, h := range history {
		es, err := analysis.ReadElements(h)
		if err != nil {
			return inputErr(err)
		}
		for i := range es {
			es[i].Action = 0
		}
		hist = append(hist, es...)
	}
	store := analysis.NewMemStore(hist)
	an := &analysis.Analyzer{Config: cfg.Analyse, Store: store, UserCache: store, Log: log}
	if *api != "" {
		c, err := newAPIClient(cfg, *api, log)
		if err != nil {
			return err
		}
		an.API, an.Users = c, c
	}
	doc, _, err := an.Analyse(ctx, analysis.Input{Meta: m, Elems: elems, Source: "the --osc file"})
	if err != nil {
		return fmt.Errorf("analyse-file: changeset %d: %w", m.ID, err)
	}
	if *format == "text" {
		return analysis.WriteText(stdout, doc)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// inputErr makes unreadable input a usage error (exit 2) naming the file and line.
func inputErr(err error) error {
	var ie *analysis.InputError
	if errors.As(err, &ie) {
		return usagef("analyse-file: %v", ie)
	}
	return err
}
