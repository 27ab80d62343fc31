package site

import "net/http"

// ContentSecurityPolicy is the policy the site is served with (serve-site, and nginx in
// serving/default.conf carries the same string): scripts, styles, fonts and data only from the
// site itself, no inline script or style, images also from https tile servers. The maps' data
// is a <script type="application/json"> block, which is data, not script, and needs no
// exception.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// SecurityHeaders sets the site's security headers on every response of h.
func SecurityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// Handler serves a site folder (for a publish output folder: its current build) with the
// security headers.
func Handler(root string) http.Handler {
	return SecurityHeaders(http.FileServer(http.Dir(root)))
}
