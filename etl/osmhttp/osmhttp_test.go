package osmhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testOptions() Options {
	return Options{UserAgent: UserAgent("test", "me@example.org"), HeaderTimeout: 300 * time.Millisecond,
		RequestTimeout: 2 * time.Second, Retries: 2, Backoff: 10 * time.Millisecond}
}

// failing serves the status codes in codes first, one a request, then "ok".
func failing(t *testing.T, n *atomic.Int32, retryAfter string, codes ...int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(codes) {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, "try later", codes[i])
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUserAgent(t *testing.T) {
	if ua := UserAgent("1.2", "ops@example.org"); ua != "osmtrack/1.2 (+ops@example.org)" {
		t.Error(ua)
	}
	if ua := UserAgent("", ""); ua != "osmtrack/dev (+https://github.com/osmtrack/osmtrack)" {
		t.Error(ua)
	}
}

func TestRetry500Then200(t *testing.T) {
	var n atomic.Int32
	var ua, accept atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		accept.Store(r.Header.Get("Accept"))
		if n.Add(1) == 1 {
			http.Error(w, "boom", 500)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	o := testOptions()
	o.Accept = "application/xml"
	c := New(o)
	body, err := c.Get(context.Background(), srv.URL+"/x", false)
	if err != nil || string(body) != "ok" || n.Load() != 2 {
		t.Fatalf("body %q err %v after %d requests", body, err, n.Load())
	}
	if ua.Load() != "osmtrack/test (+me@example.org)" || accept.Load() != "application/xml" {
		t.Fatalf("User-Agent %q, Accept %q", ua.Load(), accept.Load())
	}
	if req, bytes, retries := c.Stats(); req != 2 || retries != 1 || bytes < int64(len("boom")+len("ok")) {
		t.Errorf("stats requests=%d bytes=%d retries=%d", req, bytes, retries)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var n atomic.Int32
	srv := failing(t, &n, "1", 429)
	o := testOptions()
	o.Backoff = time.Millisecond
	start := time.Now()
	if _, err := New(o).Get(context.Background(), srv.URL, false); err != nil || n.Load() != 2 {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v, the server asked for 1s", waited)
	}
}

func TestBackoff(t *testing.T) {
	c := New(Options{Backoff: 10 * time.Millisecond, MaxBackoff: time.Second})
	for retry := 1; retry <= 12; retry++ {
		lo := min(10*time.Millisecond<<(retry-1), time.Second)
		for range 20 {
			if d := c.backoff(retry, 0); d < lo || d > min(lo+lo/4, time.Second) {
				t.Fatalf("retry %d: backoff %v, want %v plus up to a quarter, at most 1s", retry, d, lo)
			}
		}
	}
	if d := c.backoff(1, 500*time.Millisecond); d != 500*time.Millisecond {
		t.Errorf("Retry-After 500ms: waited %v", d)
	}
	if d := c.backoff(1, time.Hour); d != time.Second {
		t.Errorf("Retry-After 1h with MaxBackoff 1s: waited %v", d)
	}
	long := New(Options{Backoff: 10 * time.Millisecond, MaxBackoff: time.Second, MaxRetryAfter: 2 * time.Hour})
	if d := long.backoff(1, time.Hour); d != time.Hour {
		t.Errorf("Retry-After 1h with MaxRetryAfter 2h: waited %v", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, " 0 ": 0, "soon": 0,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0} {
		if got := ParseRetryAfter(v); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
	if d := ParseRetryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); d < 58*time.Minute || d > time.Hour {
		t.Errorf("HTTP date an hour ahead: %v", d)
	}
}

func TestHungServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	_, err := New(testOptions()).Get(context.Background(), srv.URL+"/hang", false)
	// "timeout awaiting response headers": the header timeout, not the 2s request timeout.
	if err == nil || !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), srv.URL+"/hang") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("not retried: %v", err)
	}
}

func TestResetRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.(*net.TCPConn).SetLinger(0) // close with a RST
			conn.Close()
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	body, err := New(testOptions()).Get(context.Background(), srv.URL, false)
	if err != nil || string(body) != "ok" || n.Load() != 2 {
		t.Fatalf("body %q err %v after %d requests", body, err, n.Load())
	}
}

func TestTruncatedBodyRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("short"))
			return
		}
		w.Write([]byte("full"))
	}))
	defer srv.Close()
	body, err := New(testOptions()).Get(context.Background(), srv.URL, false)
	if err != nil || string(body) != "full" {
		t.Fatalf("%q %v", body, err)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	var n atomic.Int32
	srv := failing(t, &n, "", 502, 502, 502, 502)
	_, err := New(testOptions()).Get(context.Background(), srv.URL+"/x", false)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 502 || he.Body != "try later" || n.Load() != 3 {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
	if want := "GET " + srv.URL + "/x: 502 Bad Gateway (gave up after 3 attempts)"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestNoRetryOnClientError(t *testing.T) {
	for _, code := range []int{400, 403, 404, 410} {
		var n atomic.Int32
		srv := failing(t, &n, "", code, code, code)
		_, err := New(testOptions()).Get(context.Background(), srv.URL, false)
		if want := fmt.Sprintf("GET %s: %d %s", srv.URL, code, http.StatusText(code)); err == nil || err.Error() != want || n.Load() != 1 {
			t.Errorf("%d: err %v after %d requests, want %q at once", code, err, n.Load(), want)
		}
	}
}

func TestRetry404(t *testing.T) {
	var n atomic.Int32
	srv := failing(t, &n, "", 404, 404, 404)
	_, err := New(testOptions()).Get(context.Background(), srv.URL+"/b", true)
	if err == nil || n.Load() != 3 || !strings.Contains(err.Error(), srv.URL+"/b: 404 Not Found (gave up after 3 attempts)") {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
}

type appError struct{ code int }

func (e *appError) Error() string { return fmt.Sprintf("app %d", e.code) }

func TestStatusErrorShapesTheError(t *testing.T) {
	var n atomic.Int32
	srv := failing(t, &n, "", 503, 418)
	o := testOptions()
	o.StatusError = func(he *HTTPError) error { return &appError{he.Status} }
	_, err := New(o).Get(context.Background(), srv.URL, false)
	var ae *appError
	if !errors.As(err, &ae) || ae.code != 418 || n.Load() != 2 {
		t.Fatalf("err %v after %d requests (503 retried, 418 not)", err, n.Load())
	}
}

type countingLimiter struct {
	n   atomic.Int32
	err error
}

func (l *countingLimiter) Wait(context.Context) error { l.n.Add(1); return l.err }

func TestLimiterBeforeEveryAttempt(t *testing.T) {
	var n atomic.Int32
	srv := failing(t, &n, "", 500, 500)
	o := testOptions()
	lim := &countingLimiter{}
	o.Limiter = lim
	if _, err := New(o).Get(context.Background(), srv.URL, false); err != nil || lim.n.Load() != 3 {
		t.Fatalf("err %v, limiter waited %d times for 3 attempts", err, lim.n.Load())
	}
	n.Store(0)
	lim.err = errors.New("would exceed context deadline")
	_, err := New(o).Get(context.Background(), srv.URL, false)
	if err == nil || !errors.Is(err, lim.err) || !strings.Contains(err.Error(), srv.URL) || n.Load() != 0 {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
}

// cancelOnLog cancels a context when the client logs (the retry warning, before the backoff).
type cancelOnLog struct {
	slog.Handler
	cancel context.CancelFunc
}

func (h cancelOnLog) Enabled(context.Context, slog.Level) bool { return true }

func (h cancelOnLog) Handle(context.Context, slog.Record) error { h.cancel(); return nil }

func TestCancelledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int32
	srv := failing(t, &n, "", 500, 500)
	o := testOptions()
	o.Backoff = time.Hour
	o.MaxBackoff = time.Hour
	o.Log = slog.New(cancelOnLog{slog.DiscardHandler, cancel})
	_, err := New(o).Get(ctx, srv.URL, false)
	want := "GET " + srv.URL + ": context canceled (after 1 attempts: GET " + srv.URL + ": 500 Internal Server Error)"
	if !errors.Is(err, context.Canceled) || err.Error() != want || n.Load() != 1 {
		t.Fatalf("got %v after %d requests, want %q", err, n.Load(), want)
	}
}

// A body past MaxBodyBytes is refused, announced (Content-Length) or not (chunked), without
// a retry and without reading more than the limit.
func TestBodyLimit(t *testing.T) {
	var n atomic.Int32
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		chunk := make([]byte, 32<<10)
		if r.URL.Path == "/announced" {
			w.Header().Set("Content-Length", fmt.Sprint(1<<30))
		}
		for i := 0; i < 1<<15; i++ { // up to 1 GiB
			k, err := w.Write(chunk)
			sent.Add(int64(k))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	o := testOptions()
	o.MaxBodyBytes = 1 << 20
	c := New(o)
	for _, path := range []string{"/announced", "/chunked"} {
		n.Store(0)
		_, err := c.Get(context.Background(), srv.URL+path, false)
		var tl *TooLargeError
		if !errors.As(err, &tl) || tl.Limit != 1<<20 || !strings.Contains(err.Error(), srv.URL+path) || !strings.Contains(err.Error(), "limit of 1048576 bytes") {
			t.Errorf("%s: %v", path, err)
		}
		if n.Load() != 1 {
			t.Errorf("%s: %d attempts, want 1 (no retry)", path, n.Load())
		}
	}
	if s := sent.Load(); s > 64<<20 {
		t.Errorf("the server wrote %d bytes: the client read far past the limit", s)
	}
	// At the limit exactly: fine.
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 1<<20)) }))
	t.Cleanup(srv2.Close)
	if b, err := c.Get(context.Background(), srv2.URL, false); err != nil || len(b) != 1<<20 {
		t.Errorf("body at the limit: %d bytes, %v", len(b), err)
	}
}
