package main

import (
	"log/slog"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/osmapi"
	"github.com/osmtrack/osmtrack/etl/osmhttp"
	"github.com/osmtrack/osmtrack/etl/replication"
)

// The clients of OSM's servers (replication feeds, the API, extract downloads) are built here
// from the osm section, and nowhere else: every one sends osmUserAgent and makes osm.retries
// retries after the first attempt (0: none).

// osmUserAgent is the User-Agent every request to an OSM server carries.
func osmUserAgent(cfg *config.Config) string { return osmhttp.UserAgent(version, cfg.OSM.Contact) }

// newReplicationClient reads the replication feeds.
func newReplicationClient(cfg *config.Config, log *slog.Logger) *replication.Client {
	return replication.NewClient(replication.OptionsFrom(cfg.OSM, version, log))
}

// newAPIClient is the OSM API client of the configuration (base URL overridable).
func newAPIClient(cfg *config.Config, base string, log *slog.Logger) (*osmapi.Client, error) {
	if base == "" {
		base = cfg.OSM.APIURL
	}
	c, err := osmapi.New(osmapi.Options{BaseURL: base, UserAgent: osmUserAgent(cfg), RequestsPerSecond: cfg.Analyse.APIRequestsPerSecond,
		Retries: cfg.OSM.Retries, Backoff: cfg.OSM.RetryBackoff.D(), Timeout: cfg.OSM.RequestTimeout.D(),
		ConnectTimeout: cfg.OSM.ConnectTimeout.D(), HeaderTimeout: cfg.OSM.HeaderTimeout.D(),
		MaxURLLength: cfg.Analyse.APIMaxURLLength, MaxBodyBytes: cfg.OSM.MaxBodyBytes, Log: log})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}

// newDownloadClient downloads an extract (seed --extract URL): no total timeout, since an
// extract can take long, and no transparent compression.
func newDownloadClient(cfg *config.Config) *osmhttp.Client {
	return osmhttp.New(osmhttp.Options{
		UserAgent:          osmUserAgent(cfg),
		ConnectTimeout:     cfg.OSM.ConnectTimeout.D(),
		HeaderTimeout:      cfg.OSM.HeaderTimeout.D(),
		DisableCompression: true,
		Retries:            cfg.OSM.Retries,
		Backoff:            cfg.OSM.RetryBackoff.D(),
	})
}
