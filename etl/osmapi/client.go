// Package osmapi is a small, polite client of the OpenStreetMap API 0.6 (or the simulator that
// stands in for it): a rate limit (golang.org/x/time/rate), a User-Agent, timeouts, retries with
// exponential backoff on 429 and 5xx that honour Retry-After, and batched multi-fetch calls
// (nodes?nodes=1v2,3v7,…) whose URLs stay under a configured length. 404 and 410 are not
// failures of the client: they come back as missing elements (or ErrNotFound), for the caller to
// mark its result incomplete.
package osmapi

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/osmtrack/osmtrack/etl/osmhttp"
	"github.com/paulmach/osm"
	"golang.org/x/time/rate"
)

// ErrNotFound is returned (wrapped) for 404 Not Found and 410 Gone.
var ErrNotFound = errors.New("not found")

// StatusError is an HTTP answer the client does not turn into data.
type StatusError struct {
	URL  string
	Code int
	Body string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Code)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Is makes 404 and 410 match ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && (e.Code == http.StatusNotFound || e.Code == http.StatusGone)
}

// Options configures a Client. Zero values take the defaults in brackets.
type Options struct {
	BaseURL           string        // API base, e.g. https://api.openstreetmap.org/api/0.6/ (required)
	UserAgent         string        // [osmtrack]
	RequestsPerSecond float64       // [2]
	Burst             int           // [1]
	Retries           int           // attempts after the first on 429, 5xx and network errors; 0 (or <0) for none, as in osmhttp
	Backoff           time.Duration // first retry wait, doubled each attempt [1s]
	MaxBackoff        time.Duration // [60s]
	Timeout           time.Duration // whole request, body included [120s]
	ConnectTimeout    time.Duration // [10s]
	HeaderTimeout     time.Duration // [30s]
	MaxURLLength      int           // multi-fetch URLs stay below this many characters [8000]
	MaxBodyBytes      int64         // largest response body [osmhttp.DefaultMaxBodyBytes]
	HTTPClient        *http.Client  // overrides the transport built from the timeouts
	Log               *slog.Logger
}

// Client talks to the OSM API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	opts Options
	http *osmhttp.Client
}

// New returns a client for opts.BaseURL.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		return nil, errors.New("osmapi: no base URL")
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("osmapi: base URL %q: must be an http:// or https:// URL", opts.BaseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "osmtrack"
	}
	if opts.RequestsPerSecond <= 0 {
		opts.RequestsPerSecond = 2
	}
	if opts.Burst <= 0 {
		opts.Burst = 1
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 60 * time.Second
	}
	if opts.MaxURLLength <= 0 {
		opts.MaxURLLength = 8000
	}
	hc := osmhttp.New(osmhttp.Options{
		UserAgent:      opts.UserAgent,
		Accept:         "application/xml",
		ConnectTimeout: opts.ConnectTimeout,
		HeaderTimeout:  opts.HeaderTimeout,
		RequestTimeout: opts.Timeout,
		HTTPClient:     opts.HTTPClient,
		Retries:        opts.Retries,
		Backoff:        opts.Backoff,
		MaxBackoff:     opts.MaxBackoff,
		MaxBodyBytes:   opts.MaxBodyBytes,
		// The API's Retry-After is obeyed however long it is.
		MaxRetryAfter: time.Duration(math.MaxInt64),
		Limiter:       rate.NewLimiter(rate.Limit(opts.RequestsPerSecond), opts.Burst),
		StatusError: func(he *osmhttp.HTTPError) error {
			return &StatusError{URL: he.URL, Code: he.Status, Body: he.Body}
		},
		Log: opts.Log,
	})
	return &Client{base: u, opts: opts, http: hc}, nil
}

// Stats reports the HTTP requests made (retries included), the response bytes read, and the
// retries.
func (c *Client) Stats() (requests, bytes, retries int64) {
	return c.http.Stats()
}

// get fetches base+path and returns the body of a 200 answer, after the rate limit, retrying
// 429, 5xx and network errors. 404/410 come back as a *StatusError matching ErrNotFound,
// without retries.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	return c.http.Get(ctx, c.base.String()+path, false)
}

func decodeOSM(u string, body []byte) (*osm.OSM, error) {
	o := &osm.OSM{}
	if err := xml.Unmarshal(body, o); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return o, nil
}

// typePlural is the multi-fetch path of a type.
func typePlural(t osm.Type) string {
	switch t {
	case osm.TypeNode:
		return "nodes"
	case osm.TypeWay:
		return "ways"
	case osm.TypeRelation:
		return "relations"
	}
	return ""
}

// batches splits refs (already rendered as "123" or "123v4") into query strings whose full URL
// stays below the configured maximum length.
func (c *Client) batches(t osm.Type, refs []string) [][]string {
	prefix := len(c.base.String()) + 2*len(typePlural(t)) + 2 // "nodes?nodes="
	var out [][]string
	var cur []string
	n := prefix
	for _, r := range refs {
		add := len(r) + 3 // ",": escaped as %2C
		if len(cur) > 0 && n+add >= c.opts.MaxURLLength {
			out = append(out, cur)
			cur, n = nil, prefix
		}
		cur = append(cur, r)
		n += add
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func multiPath(t osm.Type, refs []string) string {
	p := typePlural(t)
	return p + "?" + p + "=" + strings.Join(refs, ",")
}

// Versions fetches exact element versions with the multi-fetch calls
// (nodes?nodes=1v2,…, ways?ways=…, relations?relations=…), in as few requests as the URL
// length allows. Versions the API does not have (404/410) come back in missing: a batch that
// fails with 404 is split in halves until the missing versions are isolated.
func (c *Client) Versions(ctx context.Context, ids []osm.ObjectID) (osm.Objects, []osm.ObjectID, error) {
	byType := map[osm.Type][]string{}
	seen := map[osm.ObjectID]bool{}
	for _, id := range ids {
		if seen[id] || typePlural(id.Type()) == "" {
			continue
		}
		seen[id] = true
		byType[id.Type()] = append(byType[id.Type()], strconv.FormatInt(id.Ref(), 10)+"v"+strconv.Itoa(id.Version()))
	}
	var missing []osm.ObjectID
	objs, err := c.multiAll(ctx, byType, func(t osm.Type, r string) {
		ref, v, _ := strings.Cut(r, "v")
		id, _ := strconv.ParseInt(ref, 10, 64)
		ver, _ := strconv.Atoi(v)
		missing = append(missing, objectID(t, id, ver))
	})
	if err != nil {
		return nil, nil, err
	}
	return objs, missing, nil
}

// Current fetches the current version of elements (deleted ones come back with visible=false)
// with the multi-fetch calls. Elements the API does not know come back in missing.
func (c *Client) Current(ctx context.Context, ids []osm.FeatureID) (osm.Objects, []osm.FeatureID, error) {
	byType := map[osm.Type][]string{}
	seen := map[osm.FeatureID]bool{}
	for _, id := range ids {
		if seen[id] || typePlural(id.Type()) == "" {
			continue
		}
		seen[id] = true
		byType[id.Type()] = append(byType[id.Type()], strconv.FormatInt(id.Ref(), 10))
	}
	var missing []osm.FeatureID
	objs, err := c.multiAll(ctx, byType, func(t osm.Type, r string) {
		id, _ := strconv.ParseInt(r, 10, 64)
		missing = append(missing, featureID(t, id))
	})
	if err != nil {
		return nil, nil, err
	}
	return objs, missing, nil
}

// Mixed fetches current versions and exact versions together: one multi-fetch list per type
// mixes both ("nodes?nodes=12,13v2": the API takes a version per id optionally), in as few
// requests as the URL length allows. Elements or versions the API lacks are left out.
func (c *Client) Mixed(ctx context.Context, current []osm.FeatureID, versions []osm.ObjectID) (osm.Objects, error) {
	byType := map[osm.Type][]string{}
	seen := map[string]bool{}
	add := func(t osm.Type, ref string) {
		if typePlural(t) == "" || seen[string(t)+ref] {
			return
		}
		seen[string(t)+ref] = true
		byType[t] = append(byType[t], ref)
	}
	for _, id := range current {
		add(id.Type(), strconv.FormatInt(id.Ref(), 10))
	}
	for _, id := range versions {
		add(id.Type(), strconv.FormatInt(id.Ref(), 10)+"v"+strconv.Itoa(id.Version()))
	}
	return c.multiAll(ctx, byType, func(osm.Type, string) {})
}

// multiAll fetches the refs of each type (nodes, ways, relations in turn, sorted) in batches;
// miss is called for each ref the API lacks.
func (c *Client) multiAll(ctx context.Context, byType map[osm.Type][]string, miss func(t osm.Type, ref string)) (osm.Objects, error) {
	var objs osm.Objects
	for _, t := range []osm.Type{osm.TypeNode, osm.TypeWay, osm.TypeRelation} {
		refs := byType[t]
		sort.Strings(refs)
		for _, b := range c.batches(t, refs) {
			got, missed, err := c.multi(ctx, t, b)
			if err != nil {
				return nil, err
			}
			objs = append(objs, got...)
			for _, m := range missed {
				miss(t, m)
			}
		}
	}
	return objs, nil
}

// multi fetches one batch; on 404/410 it bisects to find the refs the API lacks.
func (c *Client) multi(ctx context.Context, t osm.Type, refs []string) (osm.Objects, []string, error) {
	if len(refs) == 0 {
		return nil, nil, nil
	}
	p := multiPath(t, refs)
	body, err := c.get(ctx, p)
	if errors.Is(err, ErrNotFound) {
		if len(refs) == 1 {
			return nil, refs, nil
		}
		h := len(refs) / 2
		a, ma, err := c.multi(ctx, t, refs[:h])
		if err != nil {
			return nil, nil, err
		}
		b, mb, err := c.multi(ctx, t, refs[h:])
		if err != nil {
			return nil, nil, err
		}
		return append(a, b...), append(ma, mb...), nil
	}
	if err != nil {
		return nil, nil, err
	}
	o, err := decodeOSM(c.base.String()+p, body)
	if err != nil {
		return nil, nil, err
	}
	objs := o.Objects()
	// Refs asked for but not answered are missing too.
	got := map[string]bool{}
	for _, ob := range objs {
		id := ob.ObjectID()
		got[strconv.FormatInt(id.Ref(), 10)] = true
		got[strconv.FormatInt(id.Ref(), 10)+"v"+strconv.Itoa(id.Version())] = true
	}
	var miss []string
	for _, r := range refs {
		if !got[r] {
			miss = append(miss, r)
		}
	}
	return objs, miss, nil
}

// History fetches every version of one element (node/ID/history, …). A 404/410 answer is
// returned as an error matching ErrNotFound.
func (c *Client) History(ctx context.Context, id osm.FeatureID) (osm.Objects, error) {
	return c.objects(ctx, fmt.Sprintf("%s/%d/history", id.Type(), id.Ref()))
}

// User is what the API says about a user that matters to analysis.
type User struct {
	ID              int64
	Name            string
	ChangesetsCount int
	BlocksReceived  int
	BlocksActive    int
	CreatedAt       time.Time
}

// User fetches the details of user uid (user/UID). A 404/410 answer matches ErrNotFound.
func (c *Client) User(ctx context.Context, uid int64) (User, error) {
	p := fmt.Sprintf("user/%d", uid)
	body, err := c.get(ctx, p)
	if err != nil {
		return User{}, err
	}
	var doc struct {
		User osm.User `xml:"user"`
	}
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&doc); err != nil {
		return User{}, fmt.Errorf("GET %s%s: decode: %w", c.base, p, err)
	}
	u := doc.User
	if u.ID == 0 {
		return User{}, fmt.Errorf("GET %s%s: no user in the answer", c.base, p)
	}
	return User{ID: int64(u.ID), Name: u.Name, ChangesetsCount: u.Changesets.Count,
		BlocksReceived: u.Blocks.Received.Count, BlocksActive: u.Blocks.Received.Active, CreatedAt: u.CreatedAt}, nil
}

// Get fetches base+path (e.g. "changeset/123/download") and returns the body.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	return c.get(ctx, strings.TrimPrefix(path, "/"))
}

func featureID(t osm.Type, id int64) osm.FeatureID {
	switch t {
	case osm.TypeNode:
		return osm.NodeID(id).FeatureID()
	case osm.TypeWay:
		return osm.WayID(id).FeatureID()
	default:
		return osm.RelationID(id).FeatureID()
	}
}

func objectID(t osm.Type, id int64, v int) osm.ObjectID {
	return featureID(t, id).ObjectID(v)
}

// WaysOfNode fetches the current ways that use node id (node/ID/ways). A 404/410 answer
// matches ErrNotFound.
func (c *Client) WaysOfNode(ctx context.Context, id int64) (osm.Objects, error) {
	return c.objects(ctx, fmt.Sprintf("node/%d/ways", id))
}

// objects fetches base+p and decodes the elements of the answer.
func (c *Client) objects(ctx context.Context, p string) (osm.Objects, error) {
	body, err := c.get(ctx, p)
	if err != nil {
		return nil, err
	}
	o, err := decodeOSM(c.base.String()+p, body)
	if err != nil {
		return nil, err
	}
	return o.Objects(), nil
}
