package seed

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// IsURL says whether an --extract argument is a URL rather than a file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// File is an extract on disk.
type File struct {
	Path string
	fmt  Format
}

// NewFile checks that path exists and has a known format.
func NewFile(path string) (*File, error) {
	fm, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("seed: %s is a directory", path)
	}
	return &File{Path: path, fmt: fm}, nil
}

func (f *File) Name() string   { return f.Path }
func (f *File) Format() Format { return f.fmt }
func (f *File) Open(ctx context.Context) (io.ReadCloser, error) {
	r, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return r, nil
}

// Streamer starts a streamed GET (*osmhttp.Client does).
type Streamer interface {
	Stream(ctx context.Context, url string) (io.ReadCloser, int64, error)
}

// URL is an extract on a server (a Geofabrik download, say). Each Open streams it again; use
// Spool to read it more than once.
type URL struct {
	URL    string
	Client Streamer
	fmt    Format
}

// NewURL checks the URL's format.
func NewURL(url string, c Streamer) (*URL, error) {
	fm, err := FormatOf(url)
	if err != nil {
		return nil, err
	}
	return &URL{URL: url, Client: c, fmt: fm}, nil
}

func (u *URL) Name() string   { return u.URL }
func (u *URL) Format() Format { return u.fmt }
func (u *URL) Open(ctx context.Context) (io.ReadCloser, error) {
	body, _, err := u.Client.Stream(ctx, u.URL)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return body, nil
}

// Spooled is a source copied to a temporary file once (streamed, not held in memory), so that
// it can be read twice; Remove deletes the copy.
type Spooled struct {
	src  Source
	path string
}

// Spool copies src into a new file in dir (os.TempDir() when empty).
func Spool(ctx context.Context, src Source, dir string) (*Spooled, error) {
	r, err := src.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := os.CreateTemp(dir, "osmtrack-seed-*."+src.Format().String())
	if err != nil {
		return nil, fmt.Errorf("seed: spool %s: %w", src.Name(), err)
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("seed: spool %s: %w", src.Name(), err)
	}
	return &Spooled{src: src, path: f.Name()}, nil
}

func (s *Spooled) Name() string   { return s.src.Name() }
func (s *Spooled) Format() Format { return s.src.Format() }
func (s *Spooled) Open(ctx context.Context) (io.ReadCloser, error) {
	r, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("seed: %s: %w", s.src.Name(), err)
	}
	return r, nil
}

// Remove deletes the spooled copy.
func (s *Spooled) Remove() error { return os.Remove(s.path) }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
