package sim

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults is what the server does wrong on purpose, for reliability tests. Rates are per request,
// drawn from a generator seeded with Seed (the same requests in the same order meet the same faults).
type Faults struct {
	Latency       time.Duration // added to every response
	Status5xxRate float64       // answer 500/502/503/504
	Rate429       float64       // answer 429 Too Many Requests with Retry-After
	RetryAfter    time.Duration // Retry-After of a 429 (default 1s)
	TruncateRate  float64       // send a full Content-Length, then half the body, then drop the connection
	HangRate      float64       // never answer (until the client gives up)
	HangPaths     []string      // requests whose path contains one of these never get an answer
	MissingSeqs   []uint64      // minutely sequences whose .osc.gz and .state.txt answer 404
	Only          string        // if set, faults (except MissingSeqs) apply only to paths with this prefix
	Seed          int64
}

// ParseFaults reads a flag value such as
// "latency=50ms,5xx=0.1,429=0.05,retry-after=2s,truncate=0.1,hang=0.01,hang-path=/api/0.6/user,missing=6000003;6000007,only=/api/,seed=7".
// An empty string is no faults.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return f, fmt.Errorf("faults: %q: want key=value", item)
		}
		rate := func(dst *float64) error {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 || x > 1 || math.IsNaN(x) {
				return fmt.Errorf("faults: %s=%q: want a rate between 0 and 1", k, v)
			}
			*dst = x
			return nil
		}
		dur := func(dst *time.Duration) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("faults: %s=%q: want a duration such as 50ms", k, v)
			}
			*dst = d
			return nil
		}
		var err error
		switch k {
		case "latency":
			err = dur(&f.Latency)
		case "5xx":
			err = rate(&f.Status5xxRate)
		case "429":
			err = rate(&f.Rate429)
		case "retry-after":
			err = dur(&f.RetryAfter)
		case "truncate":
			err = rate(&f.TruncateRate)
		case "hang":
			err = rate(&f.HangRate)
		case "hang-path":
			f.HangPaths = append(f.HangPaths, v)
		case "missing":
			for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '+' || r == ' ' }) {
				n, e := strconv.ParseUint(p, 10, 64)
				if e != nil {
					return f, fmt.Errorf("faults: missing=%q: want sequence numbers separated by ';'", v)
				}
				f.MissingSeqs = append(f.MissingSeqs, n)
			}
		case "only":
			f.Only = v
		case "seed":
			f.Seed, err = strconv.ParseInt(v, 10, 64)
			if err != nil {
				err = fmt.Errorf("faults: seed=%q: want an integer", v)
			}
		default:
			err = fmt.Errorf("faults: unknown fault %q (known: latency, 5xx, 429, retry-after, truncate, hang, hang-path, missing, only, seed)", k)
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

// String is the flag form of f.
func (f Faults) String() string {
	var p []string
	if f.Latency > 0 {
		p = append(p, "latency="+f.Latency.String())
	}
	add := func(k string, x float64) {
		if x > 0 {
			p = append(p, k+"="+strconv.FormatFloat(x, 'g', -1, 64))
		}
	}
	add("5xx", f.Status5xxRate)
	add("429", f.Rate429)
	if f.RetryAfter > 0 {
		p = append(p, "retry-after="+f.RetryAfter.String())
	}
	add("truncate", f.TruncateRate)
	add("hang", f.HangRate)
	for _, h := range f.HangPaths {
		p = append(p, "hang-path="+h)
	}
	if len(f.MissingSeqs) > 0 {
		var s []string
		for _, n := range f.MissingSeqs {
			s = append(s, strconv.FormatUint(n, 10))
		}
		p = append(p, "missing="+strings.Join(s, ";"))
	}
	if f.Only != "" {
		p = append(p, "only="+f.Only)
	}
	if f.Seed != 0 {
		p = append(p, "seed="+strconv.FormatInt(f.Seed, 10))
	}
	return strings.Join(p, ",")
}

func (f Faults) any() bool {
	return f.Latency > 0 || f.Status5xxRate > 0 || f.Rate429 > 0 || f.TruncateRate > 0 || f.HangRate > 0 || len(f.HangPaths) > 0
}

type faulty struct {
	f    Faults
	next http.Handler
	mu   sync.Mutex
	r    *rand.Rand
}

func withFaults(f Faults, next http.Handler) http.Handler {
	if !f.any() {
		return next
	}
	return &faulty{f: f, next: next, r: rand.New(rand.NewPCG(uint64(f.Seed), 0xfa))}
}

func (h *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.f.Only != "" && !strings.HasPrefix(r.URL.Path, h.f.Only) {
		h.next.ServeHTTP(w, r)
		return
	}
	h.mu.Lock()
	hang, x429, x5xx, trunc := h.r.Float64(), h.r.Float64(), h.r.Float64(), h.r.Float64()
	code := []int{500, 502, 503, 504}[h.r.IntN(4)]
	h.mu.Unlock()
	if h.f.Latency > 0 {
		select {
		case <-time.After(h.f.Latency):
		case <-r.Context().Done():
			return
		}
	}
	hangs := hang < h.f.HangRate
	for _, p := range h.f.HangPaths {
		if strings.Contains(r.URL.Path, p) {
			hangs = true
		}
	}
	if hangs {
		<-r.Context().Done()
		return
	}
	if x429 < h.f.Rate429 {
		ra := h.f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
		http.Error(w, "You have downloaded too much data. Please try again later.", http.StatusTooManyRequests)
		return
	}
	if x5xx < h.f.Status5xxRate {
		http.Error(w, http.StatusText(code), code)
		return
	}
	if trunc < h.f.TruncateRate {
		rec := &recorder{header: http.Header{}, code: 200}
		h.next.ServeHTTP(rec, r)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		body := rec.body.Bytes()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.code)
		w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // drop the connection: the client sees an unexpected EOF
	}
	h.next.ServeHTTP(w, r)
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }
