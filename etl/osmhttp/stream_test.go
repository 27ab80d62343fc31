package osmhttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestStream: the answer is retried (502, then 200), the body streamed whole; a body cut short
// of its Content-Length is io.ErrUnexpectedEOF naming the URL and the bytes read; 404 is not
// retried.
func TestStream(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flaky":
			if n.Add(1) == 1 {
				http.Error(w, "busy", http.StatusBadGateway)
				return
			}
			w.Write([]byte(strings.Repeat("x", 100_000)))
		case "/short":
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("short"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := New(testOptions())
	body, size, err := c.Stream(context.Background(), srv.URL+"/flaky")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil || len(b) != 100_000 || (size != 100_000 && size != -1) || n.Load() != 2 {
		t.Fatalf("read %d bytes (size %d, %d requests): %v", len(b), size, n.Load(), err)
	}

	body, _, err = c.Stream(context.Background(), srv.URL+"/short")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(body)
	body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), srv.URL+"/short") || !strings.Contains(err.Error(), "5 of 100 bytes") {
		t.Fatalf("short body: %v", err)
	}

	_, _, err = c.Stream(context.Background(), srv.URL+"/missing")
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 404 {
		t.Fatalf("missing: %v", err)
	}
}
