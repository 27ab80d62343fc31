package replication

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/osmhttp"
)

// Options configures a Client.
type Options struct {
	UserAgent      string
	ConnectTimeout time.Duration // TCP connect
	HeaderTimeout  time.Duration // from request sent to response headers
	RequestTimeout time.Duration // one attempt, body included
	Retries        int           // retries after the first attempt
	Backoff        time.Duration // first backoff; doubles each retry, with jitter
	MaxBackoff     time.Duration // cap of one backoff (default 30s)
	MaxBodyBytes   int64         // largest body read (osmhttp's default when 0)
	Log            *slog.Logger
}

// OptionsFrom builds Options from the osm configuration section.
func OptionsFrom(c config.OSM, version string, log *slog.Logger) Options {
	return Options{
		UserAgent:      osmhttp.UserAgent(version, c.Contact),
		ConnectTimeout: c.ConnectTimeout.D(),
		HeaderTimeout:  c.HeaderTimeout.D(),
		RequestTimeout: c.RequestTimeout.D(),
		Retries:        c.Retries,
		Backoff:        c.RetryBackoff.D(),
		MaxBodyBytes:   c.MaxBodyBytes,
		Log:            log,
	}
}

// Client fetches replication files.
type Client struct {
	http *osmhttp.Client
}

// NewClient returns a Client with its own transport. Defaults are osmhttp's; a Retry-After is
// obeyed up to MaxBackoff.
func NewClient(o Options) *Client {
	return &Client{http: osmhttp.New(osmhttp.Options{
		UserAgent:      o.UserAgent,
		ConnectTimeout: o.ConnectTimeout,
		HeaderTimeout:  o.HeaderTimeout,
		RequestTimeout: o.RequestTimeout,
		// Bodies are gzip files; do not let the transport negotiate another layer.
		DisableCompression: true,
		Retries:            o.Retries,
		Backoff:            o.Backoff,
		MaxBackoff:         o.MaxBackoff,
		MaxBodyBytes:       o.MaxBodyBytes,
		Log:                o.Log,
	})}
}

// HTTPError is a response with an unexpected status ("GET URL: 404 Not Found").
type HTTPError = osmhttp.HTTPError

// IsNotFound reports whether err is a 404.
func IsNotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusNotFound
}

// Get fetches url. It retries 5xx, 429, timeouts, resets and truncated bodies with exponential
// backoff and jitter, at most Retries times; a 404 is retried too when retry404 is set (a file
// at or below the head must exist), otherwise returned at once. The error names the URL, the
// cause and the number of attempts.
func (c *Client) Get(ctx context.Context, url string, retry404 bool) ([]byte, error) {
	return c.http.Get(ctx, url, retry404)
}
