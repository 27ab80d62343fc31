package site

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// The state's entry shards are in a compact binary encoding written and read field by field
// (no reflection): gob spent most of an incremental run's CPU decoding 150,000 entries. Each
// shard is a count followed by the entries; integers are varints, strings and slices are
// length-prefixed, times are time.Time's own binary form (it keeps the zone). entryFields is
// the number of fields of Entry the codec knows: TestEntryCodecRoundTrip fails when a field
// is added and the codec not taught about it.
const entryFields = 39

// appendEntries encodes es.
func appendEntries(b []byte, es []*Entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = appendEntry(b, e)
	}
	return b
}

func appendEntry(b []byte, e *Entry) []byte {
	w := entryWriter{b: b}
	w.int(e.ID)
	w.str(e.User)
	w.int(e.UID)
	w.time(e.Time)
	w.str(e.Day)
	w.str(e.Comment)
	w.str(e.Editor)
	w.strs(e.Hashtags)
	w.strs(e.Labels)
	w.uint(uint64(len(e.Reasons)))
	for _, r := range e.Reasons {
		w.str(r.Code)
		w.str(r.Text)
	}
	w.uint(uint64(len(e.Status)))
	for _, s := range e.Status {
		w.str(s.Class)
		w.str(s.Text)
		w.str(s.Title)
	}
	w.str(e.State)
	for _, row := range e.Counts {
		for _, c := range row {
			w.int(int64(c))
		}
	}
	for _, c := range e.Totals {
		w.int(int64(c))
	}
	w.bool(e.HasTypes)
	w.float(e.RoadCreatedM)
	w.float(e.RoadDeletedM)
	w.bool(e.BBox != nil)
	if e.BBox != nil {
		for _, v := range e.BBox {
			w.float(v)
		}
	}
	w.time(e.Updated)
	w.int(e.HTMLAt)
	w.int(int64(e.HTMLLen))
	w.uint(e.Hash)
	w.uint(e.Data)
	w.int(int64(e.Severity))
	w.bool(e.InQueue)
	w.strs(e.Codes)
	w.uint(e.PageSum)
	w.uint(e.JSONSum)
	w.uint(e.Sum)
	w.str(e.Version)
	w.strs(e.Regions)
	w.strs(e.InRegions)
	w.bool(e.Bot)
	w.bool(e.Open)
	w.bool(e.LabelDesc != nil)
	if e.LabelDesc != nil {
		keys := make([]string, 0, len(e.LabelDesc))
		for k := range e.LabelDesc {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the same entry, the same bytes
		w.uint(uint64(len(keys)))
		for _, k := range keys {
			w.str(k)
			w.str(e.LabelDesc[k])
		}
	}
	w.int(int64(e.CommentsCount))
	w.str(e.ReviewedBy)
	w.time(e.ReviewedAt)
	w.str(e.ReviewedText)
	return w.b
}

type entryWriter struct{ b []byte }

func (w *entryWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *entryWriter) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *entryWriter) float(v float64) {
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v))
}
func (w *entryWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}
func (w *entryWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// strs encodes nil and empty apart (the decoded entry is the one encoded).
func (w *entryWriter) strs(ss []string) {
	if ss == nil {
		w.uint(0)
		return
	}
	w.uint(uint64(len(ss)) + 1)
	for _, s := range ss {
		w.str(s)
	}
}

func (w *entryWriter) time(t time.Time) {
	tb, err := t.MarshalBinary()
	if err != nil {
		// A zone offset that is not whole minutes: keep the instant, in UTC.
		tb, _ = t.UTC().MarshalBinary()
	}
	w.b = append(w.b, byte(len(tb)))
	w.b = append(w.b, tb...)
}

// errShortEntries is a truncated or corrupt shard.
var errShortEntries = errors.New("entries: truncated or corrupt")

// decodeEntries decodes what appendEntries encoded.
func decodeEntries(b []byte) ([]*Entry, error) {
	r := entryReader{b: b, all: string(b), interned: map[string]string{}, lists: map[string][]string{}}
	n := r.uint()
	if r.err != nil || n > uint64(len(b)) {
		return nil, errShortEntries
	}
	es := make([]*Entry, 0, n)
	// One allocation for the entries of a shard, one for their bounding boxes.
	block := make([]Entry, n)
	boxes := make([][4]float64, n)
	for i := range block {
		e := &block[i]
		r.entry(e, &boxes[i])
		if r.err != nil {
			return nil, fmt.Errorf("entry %d of %d: %w", i, n, r.err)
		}
		es = append(es, e)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the entries: %w", len(r.b), errShortEntries)
	}
	return es, nil
}

func (r *entryReader) entry(e *Entry, box *[4]float64) {
	e.ID = r.int()
	e.User = r.str()
	e.UID = r.int()
	e.Time = r.time()
	e.Day = r.word()
	e.Comment = r.str()
	e.Editor = r.word()
	e.Hashtags = r.strs()
	e.Labels = r.words()
	if n := r.count(); n > 0 {
		e.Reasons = make([]ReasonBrief, n)
		for i := range e.Reasons {
			e.Reasons[i] = ReasonBrief{Code: r.word(), Text: r.str()}
		}
	}
	if n := r.count(); n > 0 {
		e.Status = make([]Badge, n)
		for i := range e.Status {
			e.Status[i] = Badge{Class: r.word(), Text: r.word(), Title: r.word()}
		}
	}
	e.State = r.word()
	for i := range e.Counts {
		for j := range e.Counts[i] {
			e.Counts[i][j] = int(r.int())
		}
	}
	for i := range e.Totals {
		e.Totals[i] = int(r.int())
	}
	e.HasTypes = r.bool()
	e.RoadCreatedM = r.float()
	e.RoadDeletedM = r.float()
	if r.bool() {
		*box = [4]float64{r.float(), r.float(), r.float(), r.float()}
		e.BBox = box
	}
	e.Updated = r.time()
	e.HTMLAt = r.int()
	e.HTMLLen = int32(r.int())
	e.Hash = r.uint()
	e.Data = r.uint()
	e.Severity = int(r.int())
	e.InQueue = r.bool()
	e.Codes = r.words()
	e.PageSum = r.uint()
	e.JSONSum = r.uint()
	e.Sum = r.uint()
	e.Version = r.str()
	e.Regions = r.words()
	e.InRegions = r.words()
	e.Bot = r.bool()
	e.Open = r.bool()
	if r.bool() {
		n := r.count()
		e.LabelDesc = make(map[string]string, n)
		for i := 0; i < n; i++ {
			k := r.word()
			e.LabelDesc[k] = r.word()
		}
	}
	e.CommentsCount = int(r.int())
	e.ReviewedBy = r.str()
	e.ReviewedAt = r.time()
	e.ReviewedText = r.str()
}

type entryReader struct {
	b []byte
	// all is the whole input as one string: the entries' strings are substrings of it (one
	// allocation per shard instead of one per string; a state of 150,000 entries holds about
	// a million strings).
	all string
	// interned and lists intern the values many entries share (days, labels, reason codes,
	// regions, editors, badges; lists of them): the lists then read a few strings that stay
	// in the cache instead of one copy per changeset scattered over memory, and the entries
	// share their slices (which nobody changes).
	interned map[string]string
	lists    map[string][]string
	err      error
}

func (r *entryReader) fail() {
	if r.err == nil {
		r.err = errShortEntries
	}
	r.b = nil
}

func (r *entryReader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count is a length that must fit in what is left (a corrupt length allocates nothing).
func (r *entryReader) count() int {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *entryReader) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *entryReader) bool() bool {
	if len(r.b) < 1 {
		r.fail()
		return false
	}
	v := r.b[0] != 0
	r.b = r.b[1:]
	return v
}

func (r *entryReader) str() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	at := len(r.all) - len(r.b)
	r.b = r.b[n:]
	return r.all[at : at+n]
}

// word is str, interned.
func (r *entryReader) word() string {
	s := r.str()
	if w, ok := r.interned[s]; ok {
		return w
	}
	r.interned[s] = s
	return s
}

// words is strs, interned: entries with the same list share one slice.
func (r *entryReader) words() []string {
	b := r.b
	// The list's bytes are its key: skip over it, look it up, read it only when new.
	n := r.count()
	for i := 1; i < n && r.err == nil; i++ {
		l := r.count()
		r.b = r.b[l:]
	}
	if n == 0 || r.err != nil {
		return nil
	}
	key := r.all[len(r.all)-len(b) : len(r.all)-len(r.b)]
	if ss, ok := r.lists[key]; ok {
		return ss
	}
	r.b = b
	r.count()
	ss := make([]string, n-1)
	for i := range ss {
		ss[i] = r.word()
	}
	r.lists[key] = ss
	return ss
}

func (r *entryReader) strs() []string {
	n := r.count()
	if n == 0 || r.err != nil {
		return nil
	}
	ss := make([]string, n-1)
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}

func (r *entryReader) time() time.Time {
	if len(r.b) < 1 || len(r.b) < 1+int(r.b[0]) {
		r.fail()
		return time.Time{}
	}
	n := int(r.b[0])
	var t time.Time
	if err := t.UnmarshalBinary(r.b[1 : 1+n]); err != nil {
		r.err = fmt.Errorf("time: %w", err)
		r.b = nil
		return time.Time{}
	}
	r.b = r.b[1+n:]
	return t
}
