// Package site holds the static site's templates, stylesheet and scripts, embedded in the
// osmtrack binary. Leaflet itself comes from npm (site/package.json) and is copied into each
// published site by `osmtrack publish`; the site never loads anything from a CDN.
package site

import "embed"

// Templates are html/template files: layout.html and partials.html are shared, each other
// file is one kind of page defining "content".
//
//go:embed templates/*.html
var Templates embed.FS

// Static files are copied to assets/ in the published site.
//
//go:embed static/*
var Static embed.FS
