package sim

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

const (
	oscGenerator         = "osmtrack-sim/1.0"
	minutesPerIndexChunk = 60
	idxRecord            = 12 // key uint64 + minute uint32, big endian
)

// Index keys: kind<<56 | id.
const (
	keyNode     = 1
	keyWay      = 2
	keyRelation = 3
	keyCSDiff   = 4 // a changeset's elements are in this minute's diff
	keyCSMeta   = 5 // a changeset's metadata is in this minute's changeset file
)

func mkKey(kind byte, id int64) uint64 { return uint64(kind)<<56 | uint64(id) }

func elemKind(t byte) byte {
	switch t {
	case 'n':
		return keyNode
	case 'w':
		return keyWay
	}
	return keyRelation
}

// seqPath is AAA/BBB/CCC of a sequence number.
func seqPath(seq uint64) string {
	return fmt.Sprintf("%03d/%03d/%03d", seq/1000000, (seq/1000)%1000, seq%1000)
}

func minuteStateText(seq uint64, ts time.Time) []byte {
	return fmt.Appendf(nil, "#%s\nsequenceNumber=%d\ntimestamp=%s\n",
		ts.Add(2*time.Second).Format("Mon Jan 02 15:04:05 UTC 2006"), seq,
		ts.Format("2006-01-02T15\\:04\\:05Z"))
}

// changesetStateText: the real feed's state files carry the file's number minus one (a long-standing
// quirk that paulmach/osm's replication package corrects for); we reproduce it.
func changesetStateText(seq uint64, ts time.Time) []byte {
	return fmt.Appendf(nil, "---\nlast_run: %s\nsequence: %d\n", ts.Format("2006-01-02 15:04:05.000000000 Z"), seq-1)
}

type gzJob struct {
	path   string
	data   *bytes.Buffer
	minute int // >= 0: record the gzip size for this minute's diff
}

type output struct {
	o       Options
	jobs    chan gzJob
	free    chan *bytes.Buffer
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
	gzSizes []int64
	recs    []uint64 // pairs key, minute for the current index chunk
	closed  bool
}

func newOutput(o Options) (*output, error) {
	for _, d := range []string{"replication/minute", "replication/changesets", "api/index"} {
		if err := os.MkdirAll(filepath.Join(o.Out, d), 0o755); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
	}
	// Stale files from an earlier run with more minutes would confuse readers.
	old, _ := filepath.Glob(filepath.Join(o.Out, "api/index/*.idx"))
	for _, f := range old {
		os.Remove(f)
	}
	out := &output{o: o, jobs: make(chan gzJob, 4), free: make(chan *bytes.Buffer, 8), gzSizes: make([]int64, o.Minutes)}
	for i := 0; i < 8; i++ {
		out.free <- new(bytes.Buffer)
	}
	for i := 0; i < 2; i++ {
		out.wg.Add(1)
		go out.worker()
	}
	return out, nil
}

func (out *output) fail(err error) {
	out.mu.Lock()
	if out.err == nil {
		out.err = err
	}
	out.mu.Unlock()
}

func (out *output) failed() error {
	out.mu.Lock()
	defer out.mu.Unlock()
	return out.err
}

func (out *output) worker() {
	defer out.wg.Done()
	zw, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	var zb bytes.Buffer
	for j := range out.jobs {
		zb.Reset()
		zw.Reset(&zb) // zero header: no name, no mtime: same bytes every time
		_, err := zw.Write(j.data.Bytes())
		if err == nil {
			err = zw.Close()
		}
		if err == nil {
			err = writeFileAtomic(j.path, zb.Bytes())
		}
		if err != nil {
			out.fail(fmt.Errorf("sim: write %s: %w", j.path, err))
		}
		if j.minute >= 0 {
			out.mu.Lock()
			out.gzSizes[j.minute] = int64(zb.Len())
			out.mu.Unlock()
		}
		j.data.Reset()
		out.free <- j.data
	}
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (out *output) abort() {
	if !out.closed {
		out.closed = true
		close(out.jobs)
		out.wg.Wait()
	}
}

func (out *output) buf() *bytes.Buffer { return <-out.free }

func (out *output) writeMinute(minute int, ts int64, evs []ev, css []*changeset, ms *MinuteStats) error {
	if err := out.failed(); err != nil {
		return err
	}
	seq := out.o.StartSeq + uint64(minute)
	t := time.Unix(ts, 0).UTC()
	mdir := filepath.Join(out.o.Out, "replication/minute")
	cdir := filepath.Join(out.o.Out, "replication/changesets")

	// osmChange, Osmosis style: one block per run of the same action.
	b := out.buf()
	data := b.AvailableBuffer()
	data = append(data, "<?xml version='1.0' encoding='UTF-8'?>\n<osmChange version=\"0.6\" generator=\""+oscGenerator+"\">\n"...)
	var cur byte
	for i := range evs {
		e := &evs[i]
		if e.act != cur {
			if cur != 0 {
				data = append(data, actionClose[cur]...)
			}
			cur = e.act
			data = append(data, actionOpen[cur]...)
		}
		data = appendElement(data, "    ", e, false)
	}
	if cur != 0 {
		data = append(data, actionClose[cur]...)
	}
	data = append(data, "</osmChange>\n"...)
	b.Write(data)
	ms.XMLBytes = int64(b.Len())
	out.jobs <- gzJob{path: filepath.Join(mdir, seqPath(seq)+".osc.gz"), data: b, minute: minute}

	// Changeset replication.
	cb := out.buf()
	cdata := appendChangesetFile(cb.AvailableBuffer(), css, ts)
	cb.Write(cdata)
	out.jobs <- gzJob{path: filepath.Join(cdir, seqPath(seq)+".osm.gz"), data: cb, minute: -1}

	if err := writeFileAtomic(filepath.Join(mdir, seqPath(seq)+".state.txt"), minuteStateText(seq, t)); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(cdir, seqPath(seq)+".state.txt"), changesetStateText(seq, t)); err != nil {
		return fmt.Errorf("sim: %w", err)
	}

	// API index records.
	m := uint64(minute)
	var last uint64
	for i := range evs {
		k := mkKey(elemKind(evs[i].typ), evs[i].id)
		if k != last {
			out.recs = append(out.recs, k, m)
			last = k
		}
	}
	seenCS := map[int64]bool{}
	for i := range evs {
		if !seenCS[evs[i].cs] {
			seenCS[evs[i].cs] = true
			out.recs = append(out.recs, mkKey(keyCSDiff, evs[i].cs), m)
		}
	}
	for _, cs := range css {
		out.recs = append(out.recs, mkKey(keyCSMeta, cs.id), m)
	}
	if (minute+1)%minutesPerIndexChunk == 0 || minute == out.o.Minutes-1 {
		if err := out.flushIndex(minute / minutesPerIndexChunk); err != nil {
			return err
		}
	}
	return nil
}

var actionOpen = map[byte]string{'c': "  <create>\n", 'm': "  <modify>\n", 'd': "  <delete>\n"}
var actionClose = map[byte]string{'c': "  </create>\n", 'm': "  </modify>\n", 'd': "  </delete>\n"}

func (out *output) flushIndex(chunk int) error {
	n := len(out.recs) / 2
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	r := out.recs
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(r[2*a], r[2*b]); c != 0 {
			return c
		}
		return cmp.Compare(r[2*a+1], r[2*b+1])
	})
	data := make([]byte, 0, n*idxRecord)
	for _, i := range idx {
		data = binary.BigEndian.AppendUint64(data, r[2*i])
		data = binary.BigEndian.AppendUint32(data, uint32(r[2*i+1]))
	}
	out.recs = out.recs[:0]
	if err := writeFileAtomic(filepath.Join(out.o.Out, "api/index", fmt.Sprintf("%04d.idx", chunk)), data); err != nil {
		return fmt.Errorf("sim: index: %w", err)
	}
	return nil
}

func (out *output) finish() error {
	out.abort()
	if err := out.failed(); err != nil {
		return err
	}
	head := out.o.StartSeq + uint64(out.o.Minutes) - 1
	ts := out.o.StartTime.Add(time.Duration(out.o.Minutes) * time.Minute)
	if err := writeFileAtomic(filepath.Join(out.o.Out, "replication/minute/state.txt"), minuteStateText(head, ts)); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(out.o.Out, "replication/changesets/state.yaml"), changesetStateText(head, ts)); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

// fillGz copies the gzip sizes into the per-minute stats (after finish).
func (out *output) fillGz(st *Stats) {
	for i := range st.PerMinute {
		st.PerMinute[i].GzBytes = out.gzSizes[i]
	}
}

// apiMeta is api/meta.json: what the server needs to know about the directory.
type apiMeta struct {
	Profile   string    `json:"profile"`
	StartSeq  uint64    `json:"start_seq"`
	EndSeq    uint64    `json:"end_seq"`
	StartTime time.Time `json:"start_time"`
	Minutes   int       `json:"minutes"`
}

func (out *output) writeMeta() error {
	m := apiMeta{Profile: out.o.Profile, StartSeq: out.o.StartSeq, EndSeq: out.o.StartSeq + uint64(out.o.Minutes) - 1,
		StartTime: out.o.StartTime, Minutes: out.o.Minutes}
	b, _ := json.MarshalIndent(m, "", " ")
	return writeFileAtomic(filepath.Join(out.o.Out, "api/meta.json"), append(b, '\n'))
}

const osmHeaderAttrs = ` copyright="OpenStreetMap and contributors" attribution="http://www.openstreetmap.org/copyright" license="http://opendatacommons.org/licenses/odbl/1-0/"`

func appendChangesetFile(b []byte, css []*changeset, ts int64) []byte {
	b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<osm version=\"0.6\" generator=\"replicate_changesets.rb\""+osmHeaderAttrs+">\n"...)
	for _, cs := range css {
		b = appendChangeset(b, "  ", cs, "num_changes", true)
	}
	return append(b, "</osm>\n"...)
}

// appendChangeset writes a changeset as the replication feed (countAttr num_changes) or the API
// (changes_count) does.
func appendChangeset(b []byte, indent string, cs *changeset, countAttr string, discussion bool) []byte {
	b = append(b, indent...)
	b = append(b, "<changeset"...)
	b = appendAttrInt(b, "id", cs.id)
	b = append(b, ` created_at="`...)
	b = appendTime(b, cs.createdAt)
	b = append(b, '"')
	if cs.closedAt != 0 {
		b = append(b, ` closed_at="`...)
		b = appendTime(b, cs.closedAt)
		b = append(b, `" open="false"`...)
	} else {
		b = append(b, ` open="true"`...)
	}
	b = appendAttrInt(b, countAttr, int64(cs.changes))
	b = appendAttrStr(b, "user", cs.m.name)
	b = appendAttrInt(b, "uid", cs.m.uid)
	if cs.hasBBox {
		for _, a := range []struct {
			n string
			v int32
		}{{"min_lat", cs.minLat}, {"max_lat", cs.maxLat}, {"min_lon", cs.minLon}, {"max_lon", cs.maxLon}} {
			b = append(b, ' ')
			b = append(b, a.n...)
			b = append(b, `="`...)
			b = appendCoord(b, a.v)
			b = append(b, '"')
		}
	}
	b = appendAttrInt(b, "comments_count", int64(len(cs.comments)))
	if len(cs.tags) == 0 && (!discussion || len(cs.comments) == 0) {
		return append(b, "/>\n"...)
	}
	b = append(b, ">\n"...)
	b = appendTags(b, indent+"  ", cs.tags)
	if discussion && len(cs.comments) > 0 {
		b = append(b, indent...)
		b = append(b, "  <discussion>\n"...)
		for _, c := range cs.comments {
			b = append(b, indent...)
			b = append(b, "    <comment"...)
			b = appendAttrInt(b, "id", c.id)
			b = append(b, ` date="`...)
			b = appendTime(b, c.ts)
			b = append(b, '"')
			b = appendAttrInt(b, "uid", c.uid)
			b = appendAttrStr(b, "user", c.user)
			b = append(b, ">\n"...)
			b = append(b, indent...)
			b = append(b, "      <text>"...)
			b = appendEsc(b, c.text)
			b = append(b, "</text>\n"...)
			b = append(b, indent...)
			b = append(b, "    </comment>\n"...)
		}
		b = append(b, indent...)
		b = append(b, "  </discussion>\n"...)
	}
	b = append(b, indent...)
	return append(b, "</changeset>\n"...)
}

// writeBase writes the region world as it is before the first minute (api/base.osm.gz): an
// extract, with the start time as its osmosis_replication_timestamp, that `osmtrack seed` loads.
func (out *output) writeBase(w *world) error {
	var b []byte
	b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<osm version=\"0.6\" generator=\""+oscGenerator+"\""+osmHeaderAttrs+
		" osmosis_replication_timestamp=\""+out.o.StartTime.UTC().Format(time.RFC3339)+"\">\n"...)
	nids := sortedKeys(w.nodes)
	for _, id := range nids {
		n := w.nodes[id]
		e := ev{typ: 'n', act: 'm', id: id, ver: n.ver, ts: n.ts, cs: n.cs, uid: n.uid, user: n.user, lat: n.lat, lon: n.lon, tags: n.tags}
		b = appendElement(b, "  ", &e, true)
	}
	for _, id := range sortedKeys(w.ways) {
		x := w.ways[id]
		e := ev{typ: 'w', act: 'm', id: id, ver: x.ver, ts: x.ts, cs: x.cs, uid: x.uid, user: x.user, nodes: x.nodes, tags: x.tags}
		b = appendElement(b, "  ", &e, true)
	}
	for _, id := range sortedKeys(w.rels) {
		x := w.rels[id]
		e := ev{typ: 'r', act: 'm', id: id, ver: x.ver, ts: x.ts, cs: x.cs, uid: x.uid, user: x.user, members: x.members, tags: x.tags}
		b = appendElement(b, "  ", &e, true)
	}
	b = append(b, "</osm>\n"...)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(out.o.Out, "api/base.osm.gz"), zb.Bytes())
}

func sortedKeys[V any](m map[int64]V) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// apiUser is one entry of api/users.json.
type apiUser struct {
	UID         int64     `json:"uid"`
	Name        string    `json:"name"`
	Created     time.Time `json:"account_created"`
	Changesets  int       `json:"changesets"`
	Blocks      int       `json:"blocks_received"`
	ActiveBlock bool      `json:"active_block"`
}

func (g *gen) writeUsers() error {
	us := make([]apiUser, 0, len(g.pop.all))
	for _, m := range g.pop.all {
		us = append(us, apiUser{UID: m.uid, Name: m.name, Created: time.Unix(m.created, 0).UTC(),
			Changesets: m.changesets + m.made, Blocks: m.blocks, ActiveBlock: m.activeBlock})
	}
	b, err := json.Marshal(us)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(g.o.Out, "api/users.json"), b)
}

func writePoly(path string, poly [][2]float64) error {
	var b []byte
	b = append(b, "region\n1\n"...)
	for _, p := range poly {
		b = append(b, "   "...)
		b = strconv.AppendFloat(b, p[0], 'E', 6, 64)
		b = append(b, "   "...)
		b = strconv.AppendFloat(b, p[1], 'E', 6, 64)
		b = append(b, '\n')
	}
	b = append(b, "END\nEND\n"...)
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("sim: region.poly: %w", err)
	}
	return nil
}

var errNoStats = errors.New("no stats.json (not a generated directory?)")
