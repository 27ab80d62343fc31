package site

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// testOutDir is where screenshots go: $OSMTRACK_TEST_OUT/<test> when set, else a temp dir.
func testOutDir(t *testing.T) string {
	if d := os.Getenv("OSMTRACK_TEST_OUT"); d != "" {
		dir := filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		msg := "chromium is not installed at " + chromiumPath + ": run scripts/install.sh chromium"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// tilePNG is a plain 256×256 tile for the local tile server.
func tilePNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for y := 0; y < 256; y++ {
		for x := 0; x < 256; x++ {
			c := color.RGBA{0xf2, 0xef, 0xe9, 0xff}
			if x == 0 || y == 0 {
				c = color.RGBA{0xd8, 0xd4, 0xcc, 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// browserEvents collects what must not happen on a page.
type browserEvents struct {
	mu       sync.Mutex
	errors   []string
	dialogs  []string
	requests []string
}

func (b *browserEvents) add(list *[]string, s string) {
	b.mu.Lock()
	*list = append(*list, s)
	b.mu.Unlock()
}

func TestBrowser(t *testing.T) {
	requireChromium(t)
	leafletForTest(t)
	db := seedHostile(t)
	out := filepath.Join(t.TempDir(), "site")
	publishT(t, db.Pool, out, false)
	shots := testOutDir(t)

	tile := tilePNG()
	files := Handler(filepath.Join(out, "current")) // with the CSP and the other headers
	var tileHits int
	var hitMu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/tiles/") {
			hitMu.Lock()
			tileHits++
			hitMu.Unlock()
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Write(tile)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	go func() { // a hung browser must not hang the test run
		select {
		case <-time.After(80 * time.Second):
			cancel()
		case <-ctx.Done():
		}
	}()

	ev := &browserEvents{}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == "assert" {
				ev.add(&ev.errors, string(m.Type)+": "+m.Text+" "+m.URL)
			}
		}
	}()
	// A failed request (a missing asset or tile) is an error too.
	responses := chromedp.Events(ctx, network.ResponseReceived)
	go func() {
		for r, err := range responses {
			if err != nil {
				return
			}
			ev.add(&ev.requests, r.Response.URL)
			if strings.HasSuffix(r.Response.URL, ".html") && r.Response.Headers["Content-Security-Policy"] != ContentSecurityPolicy {
				ev.add(&ev.errors, "no Content-Security-Policy on "+r.Response.URL)
			}
			if r.Response.Status >= 400 {
				ev.add(&ev.errors, fmt.Sprintf("HTTP %d %s", r.Response.Status, r.Response.URL))
			}
		}
	}()
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for d, err := range dialogs {
			if err != nil {
				return
			}
			ev.add(&ev.dialogs, string(d.Type)+": "+d.Message)
			chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
		}
	}()

	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const countJS = `document.querySelectorAll('#map path.leaflet-interactive').length`
	countFeatures := func(url string, want int, name string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#map[data-features]`))); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](countJS))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		chromedp.Do(ctx, chromedp.Sleep(300*time.Millisecond)) // tiles settle
		shot(name)
		if n != want {
			t.Errorf("%s: %d map features drawn, want %d", name, n, want)
		}
	}

	// Every page records the CSP violations it sees; a page must have none.
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp=[];document.addEventListener('securitypolicyviolation',function(e){window.__csp.push(e.violatedDirective+' '+e.blockedURI)})`}); err != nil {
		t.Fatal(err)
	}

	// The index at desktop width, then the changeset pages.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/index.html"), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "test site") {
		t.Errorf("index title %q", title)
	}
	shot("index")
	countFeatures(srv.URL+"/changesets/301.html", 5, "changeset-301")
	// The CSP is active: an inline script injected into the page does not run (the map above
	// drew, so the site's own scripts did).
	ev.mu.Lock()
	before := len(ev.errors)
	ev.mu.Unlock()
	ran, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var s=document.createElement('script');s.textContent='window.__inlineRan=true';document.body.appendChild(s);var r=!!window.__inlineRan;window.__csp=[];return r})()`))
	if err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Error("an inline script ran: the Content-Security-Policy is not active")
	}
	chromedp.Do(ctx, chromedp.Sleep(200*time.Millisecond))
	ev.mu.Lock() // the probe's own refusal is the one console error expected
	probe := 0
	for i := before; i < len(ev.errors); i++ {
		if strings.Contains(ev.errors[i], "Content Security Policy") {
			ev.errors = append(ev.errors[:i], ev.errors[i+1:]...)
			probe++
			break
		}
	}
	ev.mu.Unlock()
	if probe == 0 {
		t.Error("the browser did not report refusing the inline script")
	}
	// A popup opens with the tag changes, as text.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(function(){var p=document.querySelectorAll('#map path.leaflet-interactive');p[1].dispatchEvent(new MouseEvent('click',{bubbles:true,clientX:300,clientY:300}));return true})()`),
		chromedp.WaitVisible(chromedp.CSS(`.leaflet-popup-content`)),
	); err != nil {
		t.Fatalf("popup: %v", err)
	}
	popup, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.leaflet-popup-content`)))
	if err != nil {
		t.Fatal(err)
	}
	if popup == "" {
		t.Error("empty popup")
	}
	shot("changeset-301-popup")
	countFeatures(srv.URL+"/changesets/302.html", 6, "changeset-302-hostile")
	countFeatures(srv.URL+"/map.html", 2, "map")
	for _, p := range []string{"stats.html", "status.html", "labels/index.html", "users/1.html", "feeds.html"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"+p), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if p == "stats.html" || p == "status.html" {
			shot(strings.TrimSuffix(p, ".html"))
		}
	}
	// No page shows markup as text. Strangers' text sits in <bdi> (and may legitimately hold
	// "<script>"); everything outside it is ours and must never read like a tag or an entity.
	checkNoMarkupAsText(t, ctx, srv.URL, filepath.Join(out, "current"))

	// Phone width: nothing wider than the screen.
	const overflowJS = `document.documentElement.scrollWidth > window.innerWidth + 1`
	for _, p := range []string{"changesets/302.html", "index.html", "changesets/301.html", "stats.html", "review.html", "map.html", "labels/index.html"} {
		if err := chromedp.Do(ctx,
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			chromedp.Navigate(srv.URL+"/"+p),
			chromedp.WaitReady(chromedp.CSS("footer")),
		); err != nil {
			t.Fatal(err)
		}
		over, err := chromedp.Run(ctx, chromedp.Evaluate[bool](overflowJS))
		if err != nil {
			t.Fatal(err)
		}
		if over {
			t.Errorf("%s is wider than a phone screen", p)
		}
		shot("phone-" + strings.NewReplacer("/", "-", ".html", "").Replace(p))
	}
	chromedp.Do(ctx, chromedp.Sleep(200*time.Millisecond))

	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, e := range ev.errors {
		t.Errorf("browser error: %.300s", e)
	}
	for _, d := range ev.dialogs {
		t.Errorf("a dialog fired: %.300s", d)
	}
	if len(ev.requests) < 10 {
		t.Errorf("only %d responses seen: the network events are not arriving", len(ev.requests))
	}
	hitMu.Lock()
	if tileHits == 0 {
		t.Error("no tile was requested from the local tile server")
	}
	hitMu.Unlock()
	t.Logf("screenshots in %s", shots)
}

// markupAsTextJS returns the first piece of text outside <bdi> (and outside <script>,
// <style>, <noscript>) that looks like an HTML tag or an escaped entity, or "".
const markupAsTextJS = `(function(){
var b=document.body.cloneNode(true);
b.querySelectorAll('bdi,script,style,noscript,textarea').forEach(function(e){e.remove()});
var t=b.textContent.replace(/\u2068[^\u2069]*\u2069/g,'');
var m=t.match(/<\/?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?\/?>|&(lt|gt|amp|quot|#[0-9]+);/);
return m?t.substr(Math.max(0,m.index-40),120):"";
})()`

// checkNoMarkupAsText loads every HTML page of the build in the browser and fails on any
// markup shown as text.
func checkNoMarkupAsText(t *testing.T, ctx context.Context, base, root string) {
	t.Helper()
	var pages []string
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".html") && !strings.Contains(p, "/assets/") {
			rel, _ := filepath.Rel(root, p)
			pages = append(pages, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(pages) < 10 {
		t.Fatalf("only %d pages to check for markup as text", len(pages))
	}
	for _, p := range pages {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"+p), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		bad, err := chromedp.Run(ctx, chromedp.Evaluate[string](markupAsTextJS))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if bad != "" {
			t.Errorf("%s shows markup as text: %q", p, bad)
		}
		csp, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp||[]`))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, v := range csp {
			t.Errorf("%s: Content-Security-Policy violation: %s", p, v)
		}
	}
}
