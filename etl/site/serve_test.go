package site

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandlerSecurityHeaders(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><p>x"), 0o644)
	srv := httptest.NewServer(Handler(dir))
	defer srv.Close()
	for _, p := range []string{"/index.html", "/missing.html"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for k, want := range map[string]string{"Content-Security-Policy": ContentSecurityPolicy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", p, k, got, want)
			}
		}
	}
	// nginx's configuration carries the same policy.
	b, err := os.ReadFile("../../serving/default.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `add_header Content-Security-Policy "`+ContentSecurityPolicy+`" always;`) {
		t.Error("serving/default.conf does not send site.ContentSecurityPolicy")
	}
}
