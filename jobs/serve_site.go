package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/osmtrack/osmtrack/etl/site"
)

func init() {
	register(&command{name: "serve-site", summary: "serve a published site folder over HTTP (demo and local review)", run: runServeSite})
}

func runServeSite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("serve-site", "osmtrack serve-site --dir DIR [--addr 127.0.0.1:8080]")
	dir := f.String("dir", "", "the site: a publish output folder (its current build is served) or any folder")
	addr := f.String("addr", "127.0.0.1:8080", "listen address")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("serve-site: --dir is required")
	}
	root := *dir
	// A publish output folder: serve through its current symlink, so that each request sees
	// the build that is current at that moment.
	if st, err := os.Lstat(filepath.Join(root, "current")); err == nil && st.Mode()&os.ModeSymlink != 0 {
		root = filepath.Join(root, "current")
	}
	if _, err := os.Stat(root); err != nil {
		return usagef("serve-site: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve-site: %w", err)
	}
	srv := &http.Server{Handler: site.Handler(root), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "serving %s at http://%s/\n", root, ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve-site: %w", err)
	}
	return nil
}
