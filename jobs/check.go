package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/osmtrack/osmtrack/etl/analysis"
	"github.com/osmtrack/osmtrack/etl/osmapi"
	"github.com/osmtrack/osmtrack/etl/store"
)

func init() {
	register(&command{name: "check", summary: "analyse one changeset by id straight from the OSM API (text or JSON)", run: runCheck})
}

const checkUsage = "osmtrack check CHANGESET_ID [--format text|json] [--api URL] [--no-store] [--config FILE]"

// runCheck is the quick look at one changeset: metadata and download from the OSM API,
// before-states from the element store when a database is configured (read only) and from the
// API otherwise, at the configured request rate (analyse.api_requests_per_second).
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("check", checkUsage)
	configPath := f.String("config", "", "configuration file")
	format := f.String("format", "text", "text or json (the analysis document, docs/analysis.md)")
	api := f.String("api", "", "OSM API base URL (default: osm.api_url of the configuration)")
	noStore := f.Bool("no-store", false, "do not read the element store even when "+"OSMTRACK_DATABASE_URL is set")
	// The id may come before or after the flags.
	var idArg string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		idArg, args = args[0], args[1:]
	}
	if err := f.parse(args); err != nil {
		return err
	}
	if idArg == "" && f.NArg() > 0 {
		idArg = f.Arg(0)
		if err := f.parse(f.Args()[1:]); err != nil {
			return err
		}
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if idArg == "" {
		return usagef("osmtrack check: which changeset? usage: %s", checkUsage)
	}
	id, err := strconv.ParseInt(idArg, 10, 64)
	if err != nil || id <= 0 {
		return usagef("osmtrack check: %q is not a changeset id (a positive number); usage: %s", idArg, checkUsage)
	}
	if *format != "json" && *format != "text" {
		return usagef("osmtrack check: --format %q is not text or json", *format)
	}
	cfg, log, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	client, err := newAPIClient(cfg, *api, log)
	if err != nil {
		return err
	}
	var base analysis.Store
	if cfg.Database.URL != "" && !*noStore {
		db, err := store.Open(ctx, cfg.Database.URL, 2)
		if err != nil {
			return fmt.Errorf("check: element store: %w", err)
		}
		defer db.Close()
		base = &analysis.PGStore{DB: db}
	}
	in, err := analysis.FetchChangeset(ctx, client, id, time.Now().UTC())
	if errors.Is(err, osmapi.ErrNotFound) {
		return usagef("osmtrack check: %v", err)
	}
	if err != nil {
		return err
	}
	ov := analysis.NewOverlay(base)
	an := &analysis.Analyzer{Config: cfg.Analyse, Store: ov, UserCache: ov, API: client, Users: client, Log: log}
	doc, st, err := an.Analyse(ctx, in)
	if err != nil {
		return fmt.Errorf("check: changeset %d: %w", id, err)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(doc)
	}
	if err := analysis.WriteText(stdout, doc); err != nil {
		return err
	}
	from := "the OSM API"
	if base != nil {
		from = "the element store, then the OSM API"
	}
	requests, _, _ := client.Stats()
	_, err = fmt.Fprintf(stdout, "\nbefore-states from %s: %d from the store, %d from the API, %d missing; %d API requests\n",
		from, st.FromStore, st.FromAPI, st.Missing, requests)
	return err
}
