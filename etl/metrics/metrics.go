// Package metrics writes pipeline and volume metrics to InfluxDB (1.8 or 2.x) with the
// blocking write API. Metrics never block data: when InfluxDB is not configured every call is a
// no-op, and when it is down the points are dropped and counted.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/osmtrack/osmtrack/etl/config"
)

// flushAt is the number of buffered points that triggers a write.
const flushAt = 500

// Recorder buffers points and writes them in batches. A nil *Recorder is valid and records
// nothing. It is safe for concurrent use.
type Recorder struct {
	log     *slog.Logger
	client  influxdb2.Client
	writer  api.WriteAPIBlocking
	timeout time.Duration
	tags    map[string]string

	mu      sync.Mutex
	buf     []*write.Point
	written int
	dropped int
	down    bool
}

// New returns a Recorder for cfg, or nil (metrics off, said once in the log) when no URL is set.
// tags are added to every point.
func New(cfg config.Metrics, log *slog.Logger, tags map[string]string) *Recorder {
	if !cfg.Enabled() {
		log.Info("metrics are off: OSMTRACK_INFLUX_URL is not set")
		return nil
	}
	opts := influxdb2.DefaultOptions().SetHTTPRequestTimeout(uint(max(1, cfg.Timeout.D()/time.Second)))
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	return &Recorder{
		log:     log,
		client:  client,
		writer:  client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		timeout: cfg.Timeout.D(),
		tags:    tags,
	}
}

// Point records one point; it is written at the next Flush (or when the buffer fills).
func (r *Recorder) Point(ctx context.Context, measurement string, tags map[string]string, fields map[string]any, ts time.Time) {
	if r == nil {
		return
	}
	p := influxdb2.NewPoint(measurement, nil, fields, ts)
	for k, v := range r.tags {
		p.AddTag(k, v)
	}
	for k, v := range tags {
		p.AddTag(k, v)
	}
	r.mu.Lock()
	r.buf = append(r.buf, p)
	full := len(r.buf) >= flushAt
	r.mu.Unlock()
	if full {
		r.Flush(ctx)
	}
}

// Flush writes the buffered points. On failure it logs a warning and drops them; after one
// failure further points are dropped without trying, so a dead InfluxDB costs one timeout.
// It returns the error of the write, if any, for callers that want it.
func (r *Recorder) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	pts := r.buf
	r.buf = nil
	down := r.down
	r.mu.Unlock()
	if len(pts) == 0 {
		return nil
	}
	if down {
		r.mu.Lock()
		r.dropped += len(pts)
		r.mu.Unlock()
		return fmt.Errorf("metrics: influxdb is down")
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	err := r.writer.WritePoint(wctx, pts...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.down = true
		r.dropped += len(pts)
		r.log.Warn("metrics write failed; points dropped, data is not affected", "points", len(pts), "err", err)
		return fmt.Errorf("metrics: write %d points: %w", len(pts), err)
	}
	r.written += len(pts)
	return nil
}

// Close flushes, logs how many points were written and dropped, and closes the client.
func (r *Recorder) Close(ctx context.Context) {
	if r == nil {
		return
	}
	r.Flush(ctx)
	r.mu.Lock()
	written, dropped := r.written, r.dropped
	r.mu.Unlock()
	if dropped > 0 {
		r.log.Warn("metrics points dropped", "written", written, "dropped", dropped)
	} else {
		r.log.Debug("metrics written", "points", written)
	}
	r.client.Close()
}

// Stats returns the points written and dropped so far.
func (r *Recorder) Stats() (written, dropped int) {
	if r == nil {
		return 0, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.written, r.dropped
}
