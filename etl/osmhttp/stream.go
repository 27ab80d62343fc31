package osmhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Stream starts a GET of a large file (an extract) and returns its body unread, for the caller
// to stream: nothing is buffered. Getting the answer is retried like Get (on 5xx, 429, timeouts,
// resets; never on 404); the body is not, since part of it may have been used already. There is
// no total timeout (the caller's context bounds it); the connect and header timeouts apply.
// The body's Read fails with io.ErrUnexpectedEOF, naming the URL and the bytes read, when the
// connection ends before Content-Length. size is Content-Length (-1 when unknown).
func (c *Client) Stream(ctx context.Context, url string) (body io.ReadCloser, size int64, err error) {
	var last error
	var lastRetryAfter time.Duration
	for attempt := 0; attempt <= c.o.Retries; attempt++ {
		if attempt > 0 {
			if err := c.waitRetry(ctx, url, attempt, lastRetryAfter, last); err != nil {
				return nil, 0, err
			}
		}
		if c.o.Limiter != nil {
			if err := c.o.Limiter.Wait(ctx); err != nil {
				return nil, 0, fmt.Errorf("GET %s: %w", url, err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("GET %s: %w", url, err)
		}
		req.Header.Set("User-Agent", c.o.UserAgent)
		if c.o.Accept != "" {
			req.Header.Set("Accept", c.o.Accept)
		}
		c.requests.Add(1)
		resp, err := c.http.Do(req)
		status := 0
		if err == nil && resp.StatusCode == http.StatusOK {
			return &streamBody{c: c, url: url, rc: resp.Body, want: resp.ContentLength}, resp.ContentLength, nil
		}
		if err != nil {
			last, lastRetryAfter = fmt.Errorf("GET %s: %w", url, unwrapURLError(err)), 0
		} else {
			status = resp.StatusCode
			head, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			msg := strings.TrimSpace(string(head))
			if len(msg) > 200 {
				msg = msg[:200]
			}
			he := &HTTPError{URL: url, Status: status, Text: resp.Status, Body: msg,
				RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"))}
			last, lastRetryAfter = c.o.StatusError(he), he.RetryAfter
		}
		if ctx.Err() != nil || !Retryable(status, last, false) {
			return nil, 0, last
		}
	}
	return nil, 0, fmt.Errorf("%w (gave up after %d attempts)", last, c.o.Retries+1)
}

// streamBody counts what is read and checks the length at the end.
type streamBody struct {
	c    *Client
	url  string
	rc   io.ReadCloser
	want int64
	n    int64
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	b.c.bytes.Add(int64(n))
	switch {
	case (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)) && b.want >= 0 && b.n != b.want:
		return n, fmt.Errorf("GET %s: body has %d of %d bytes: %w", b.url, b.n, b.want, io.ErrUnexpectedEOF)
	case err != nil && err != io.EOF:
		return n, fmt.Errorf("GET %s: reading body at byte %d: %w", b.url, b.n, unwrapURLError(err))
	}
	return n, err
}

func (b *streamBody) Close() error { return b.rc.Close() }
