// Package osmhttp is the HTTP mechanism shared by the clients of the OpenStreetMap servers
// (etl/replication for the replication feeds, etl/osmapi for the API): a transport built from
// connect and header timeouts, a total timeout per attempt, a User-Agent, and GET with retries
// (exponential backoff with jitter, Retry-After honoured) on 5xx, 429, 408, timeouts, resets and
// truncated bodies. Errors name the URL ("GET URL: …").
package osmhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// UserAgent is the User-Agent osmtrack sends: "osmtrack/VERSION (+CONTACT)".
func UserAgent(version, contact string) string {
	if version == "" {
		version = "dev"
	}
	if contact == "" {
		contact = "https://github.com/osmtrack/osmtrack"
	}
	return "osmtrack/" + version + " (+" + contact + ")"
}

// Limiter makes an attempt wait its turn (*rate.Limiter of golang.org/x/time/rate does).
type Limiter interface {
	Wait(ctx context.Context) error
}

// Options configures a Client. Zero values take the defaults in brackets.
type Options struct {
	UserAgent          string        // [UserAgent("", "")]
	Accept             string        // Accept header; none when empty
	ConnectTimeout     time.Duration // TCP connect and TLS handshake [10s]
	HeaderTimeout      time.Duration // from request sent to response headers [30s]
	RequestTimeout     time.Duration // one attempt, body included [2m]
	DisableCompression bool          // do not negotiate gzip (for bodies that are gzip files already)
	HTTPClient         *http.Client  // overrides the transport built from the timeouts
	Retries            int           // retries after the first attempt; <=0 for none
	Backoff            time.Duration // first backoff; doubles each retry, plus up to a quarter of jitter [1s]
	MaxBackoff         time.Duration // cap of one backoff [30s]
	MaxRetryAfter      time.Duration // the longest Retry-After obeyed; longer ones are cut to it [MaxBackoff]
	Limiter            Limiter       // waited for before every attempt (rate limit); none when nil
	// MaxBodyBytes is the largest body read (as sent, before any gunzip); a larger one is a
	// *TooLargeError, not retried. 0: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// StatusError shapes the error of an answer with a status other than 200 (the caller's own
	// error type); by default the *HTTPError itself. Retries are decided on the status.
	StatusError func(*HTTPError) error
	Log         *slog.Logger
}

// DefaultMaxBodyBytes is the body limit when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 64 << 20

// TooLargeError is a body (or its announced Content-Length) past Options.MaxBodyBytes.
type TooLargeError struct {
	URL   string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("GET %s: body larger than the limit of %d bytes", e.URL, e.Limit)
}

// Client makes GET requests with retries. It is safe for concurrent use.
type Client struct {
	http *http.Client
	o    Options

	requests atomic.Int64
	bytes    atomic.Int64
	retries  atomic.Int64
}

// New returns a Client; without o.HTTPClient it has its own transport (NewTransport).
func New(o Options) *Client {
	if o.UserAgent == "" {
		o.UserAgent = UserAgent("", "")
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 30 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 2 * time.Minute
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = o.MaxBackoff
	}
	if o.StatusError == nil {
		o.StatusError = func(he *HTTPError) error { return he }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: NewTransport(o.ConnectTimeout, o.HeaderTimeout, o.DisableCompression)}
	}
	return &Client{http: hc, o: o}
}

// NewTransport returns a transport with the given connect (TCP and TLS handshake) and response
// header timeouts; the total time of a request is the caller's context.
func NewTransport(connect, header time.Duration, disableCompression bool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = connect
	tr.ResponseHeaderTimeout = header
	tr.MaxIdleConnsPerHost = 4
	tr.DisableCompression = disableCompression
	return tr
}

// Stats reports the HTTP requests made (retries included), the response bytes read, and the
// retries.
func (c *Client) Stats() (requests, bytes, retries int64) {
	return c.requests.Load(), c.bytes.Load(), c.retries.Load()
}

// HTTPError is an answer with a status other than 200.
type HTTPError struct {
	URL        string
	Status     int
	Text       string        // the status line, e.g. "404 Not Found"
	Body       string        // the start of the body, trimmed (at most 200 bytes)
	RetryAfter time.Duration // from a Retry-After header (429, 503), 0 when absent
}

func (e *HTTPError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Text) }

// Get fetches url and returns the body of a 200 answer. It retries 5xx, 429, 408, timeouts,
// resets and truncated bodies at most Retries times, after a backoff (or the Retry-After the
// server asked for); a 404 is retried too when retry404 is set, otherwise returned at once like
// any other status. The error names the URL, the cause and the number of attempts.
func (c *Client) Get(ctx context.Context, url string, retry404 bool) ([]byte, error) {
	var last error
	var lastRetryAfter time.Duration
	attempts := 0
	for attempt := 0; attempt <= c.o.Retries; attempt++ {
		if attempt > 0 {
			if err := c.waitRetry(ctx, url, attempts, lastRetryAfter, last); err != nil {
				return nil, err
			}
		}
		if c.o.Limiter != nil {
			if err := c.o.Limiter.Wait(ctx); err != nil {
				return nil, fmt.Errorf("GET %s: %w", url, err)
			}
		}
		attempts++
		body, status, retryAfter, err := c.once(ctx, url)
		if err == nil {
			return body, nil
		}
		last, lastRetryAfter = err, retryAfter
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (attempt %d)", err, attempts)
		}
		if !Retryable(status, err, retry404) {
			return nil, err
		}
	}
	if attempts > 1 {
		return nil, fmt.Errorf("%w (gave up after %d attempts)", last, attempts)
	}
	return nil, last
}

// backoff is the wait before retry number retry (1 for the first): Backoff doubled each retry
// plus up to a quarter of jitter, at most MaxBackoff; longer when the server asked for it with
// Retry-After (up to MaxRetryAfter).
func (c *Client) backoff(retry int, retryAfter time.Duration) time.Duration {
	d := c.o.Backoff
	for i := 1; i < retry && d < c.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d+time.Duration(rand.Int64N(int64(d/4)+1)), c.o.MaxBackoff)
	return max(d, min(retryAfter, c.o.MaxRetryAfter))
}

// once makes one attempt. status is the answer's status (0 when there was none) and retryAfter
// what its Retry-After header asked for.
func (c *Client) once(ctx context.Context, url string) (body []byte, status int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("User-Agent", c.o.UserAgent)
	if c.o.Accept != "" {
		req.Header.Set("Accept", c.o.Accept)
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("GET %s: %w", url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		c.bytes.Add(int64(len(head)))
		msg := strings.TrimSpace(string(head))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		he := &HTTPError{URL: url, Status: resp.StatusCode, Text: resp.Status, Body: msg,
			RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"))}
		return nil, resp.StatusCode, he.RetryAfter, c.o.StatusError(he)
	}
	max := c.o.MaxBodyBytes
	if resp.ContentLength > max {
		return nil, resp.StatusCode, 0, &TooLargeError{URL: url, Limit: max}
	}
	if resp.ContentLength > 0 {
		body = make([]byte, 0, resp.ContentLength) // at most max
	}
	body, err = readAll(io.LimitReader(resp.Body, max+1), body)
	c.bytes.Add(int64(len(body)))
	if err != nil {
		return nil, resp.StatusCode, 0, fmt.Errorf("GET %s: reading body: %w", url, unwrapURLError(err))
	}
	if int64(len(body)) > max {
		return nil, resp.StatusCode, 0, &TooLargeError{URL: url, Limit: max}
	}
	if resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		return nil, resp.StatusCode, 0, fmt.Errorf("GET %s: body has %d of %d bytes: %w", url, len(body), resp.ContentLength, io.ErrUnexpectedEOF)
	}
	return body, resp.StatusCode, 0, nil
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	if b == nil {
		b = make([]byte, 0, 512<<10)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// unwrapURLError drops net/http's "Get \"URL\": " prefix; our messages name the URL already.
func unwrapURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ParseRetryAfter parses a Retry-After header: seconds or an HTTP date; 0 when absent, invalid
// or past.
func ParseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// Retryable says whether an attempt that failed with err is worth another try: status is the
// answer's status (0 when there was none). 5xx, 429 and 408 are; 404 when retry404 is set; and
// without an answer (or while reading the body) timeouts, resets, refused connections and
// truncated bodies.
func Retryable(status int, err error, retry404 bool) bool {
	switch {
	case status >= 500, status == http.StatusTooManyRequests, status == http.StatusRequestTimeout:
		return true
	case status == http.StatusNotFound:
		return retry404
	case status != 0 && status != http.StatusOK:
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// waitRetry waits before retry number attempt (the backoff, or what the server asked for) and
// counts and logs it; it returns an error naming the URL when ctx ends first. done is the number
// of attempts made so far, for the error.
func (c *Client) waitRetry(ctx context.Context, url string, done int, retryAfter time.Duration, last error) error {
	wait := c.backoff(done, retryAfter)
	c.retries.Add(1)
	c.o.Log.Warn("retrying HTTP request", "url", url, "attempt", done+1, "wait", wait.String(), "err", last)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("GET %s: %w (after %d attempts: %v)", url, ctx.Err(), done, last)
	case <-t.C:
		return nil
	}
}
