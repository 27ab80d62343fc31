package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/osmtrack/osmtrack/etl/sim"
)

func init() {
	register(&command{name: "sim", summary: "the OSM simulator: generate, serve or describe replication + API data", run: runSim})
}

const simUsage = "osmtrack sim generate|serve|stats [flags]  (osmtrack sim SUBCOMMAND --help)"

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("sim: %s", simUsage)
	}
	switch args[0] {
	case "generate":
		return runSimGenerate(ctx, args[1:], stdout, stderr)
	case "serve":
		return runSimServe(ctx, args[1:], stdout, stderr)
	case "stats":
		return runSimStats(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "-help", "help":
		fmt.Fprintln(stdout, "usage: "+simUsage)
		return errHelp
	}
	return usagef("sim: unknown subcommand %q: %s", args[0], simUsage)
}

func runSimGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("sim generate", "osmtrack sim generate --out DIR [--profile region|planet] [--minutes N] [--seed S] [--start-seq N] [--start-time RFC3339] [--base FILE.osm.pbf]")
	profile := f.String("profile", "region", "region (a city, a few changesets a minute) or planet (the planet's volume around the region)")
	minutes := f.Int("minutes", 60, "minutes of replication to generate")
	seed := f.Int64("seed", 1, "random seed: the same seed gives the same bytes")
	out := f.String("out", "", "output directory (required)")
	startSeq := f.Uint64("start-seq", sim.DefaultStartSeq, "sequence number of the first minute")
	startTime := f.String("start-time", sim.DefaultStartTime.Format(time.RFC3339), "time of the state before the first minute")
	base := f.String("base", "", "real extract (.osm.pbf) to use as the region world instead of the generated town")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *out == "" {
		return usagef("sim generate: --out is required")
	}
	if *profile != sim.ProfileRegion && *profile != sim.ProfilePlanet {
		return usagef("sim generate: --profile %q: want region or planet", *profile)
	}
	if *minutes < 1 {
		return usagef("sim generate: --minutes %d: want at least 1", *minutes)
	}
	if *base != "" {
		if _, err := os.Stat(*base); err != nil {
			return usagef("sim generate: --base: %v", err)
		}
	}
	st, err := time.Parse(time.RFC3339, *startTime)
	if err != nil {
		return usagef("sim generate: --start-time %q: %v", *startTime, err)
	}
	stats, err := sim.Generate(ctx, sim.Options{Profile: *profile, Minutes: *minutes, Seed: *seed, Out: *out,
		StartSeq: *startSeq, StartTime: st, Base: *base})
	if err != nil {
		return err
	}
	slog.Info("sim: generated", "dir", *out, "profile", *profile, "minutes", *minutes,
		"seqs", fmt.Sprintf("%d..%d", stats.StartSeq, stats.EndSeq), "changesets", stats.Changesets,
		"elements", stats.ElementsPerMinute.Total, "elapsed", stats.Elapsed.Round(time.Millisecond))
	return nil
}

func runSimServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("sim serve", "osmtrack sim serve --dir DIR [--addr 127.0.0.1:8088] [--faults SPEC] [--live --tick 60s [--from SEQ]]")
	dir := f.String("dir", "", "generated directory (required)")
	addr := f.String("addr", "127.0.0.1:8088", "listen address")
	faults := f.String("faults", "", "fault injection, e.g. latency=50ms,5xx=0.1,429=0.05,retry-after=2s,truncate=0.1,hang=0.01,hang-path=/api/0.6/user,missing=6000003;6000007,only=/api/,seed=1")
	live := f.Bool("live", false, "release one minute per --tick instead of all at once")
	tick := f.Duration("tick", time.Minute, "live mode: time between released minutes")
	from := f.Uint64("from", 0, "live mode: the sequence released first (default: the first generated)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("sim serve: --dir is required")
	}
	fl, err := sim.ParseFaults(*faults)
	if err != nil {
		return usagef("sim serve: --faults: %v", err)
	}
	if *live && *tick <= 0 {
		return usagef("sim serve: --tick %s: want a positive duration", *tick)
	}
	srv, err := sim.Open(*dir, sim.ServeOptions{Faults: fl, Live: *live, Tick: *tick, From: *from})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim serve: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Run(ctx)
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		hs.Shutdown(sctx)
	}()
	slog.Info("sim: serving", "dir", *dir, "addr", ln.Addr().String(), "head", srv.Head(), "live", *live, "faults", fl.String())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sim serve: %w", err)
	}
	return nil
}

func runSimStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("sim stats", "osmtrack sim stats DIR")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usagef("sim stats: want one directory: %s", "osmtrack sim stats DIR")
	}
	st, err := sim.ReadStats(f.Arg(0))
	if err != nil {
		return err
	}
	return st.Write(stdout)
}
