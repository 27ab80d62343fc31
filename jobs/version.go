package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/osmtrack/osmtrack/etl/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func init() {
	register(&command{name: "version", summary: "print the version and the schema version", run: runVersion})
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("version", "osmtrack version")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " (" + s.Value[:12] + ")"
			}
		}
	}
	fmt.Fprintf(stdout, "osmtrack %s%s schema %d\n", version, rev, store.LatestVersion())
	return nil
}
