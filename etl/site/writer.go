package site

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc64"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The output folder (--out DIR) holds:
//
//	DIR/current   symlink to site: what nginx serves (root DIR/current)
//	DIR/site/     the site, one tree, updated in place
//	DIR/state/    what the last complete run rendered (meta.gob, entries-*.bin,
//	              entries.html): the incremental publish starts from it
//
// A run writes only the files whose content changed, each one atomically: into a temporary
// file in the same folder, then rename(2) over the old one. A reader (nginx opens each file
// once per request) gets the old file or the new one, never a half-written one. A file that
// does not exist yet is created in place (createNew: nothing links to it until it is
// complete). New pages are written before the pages that link to them; pages of changesets
// that left the window are removed after everything else is written. During a run the site can thus show some pages
// of the new state beside pages of the old one for a few seconds (a changeset page newer than
// the list that links it), never a broken page or a broken link to a new page.
//
// A run invalidates the state before it writes its first file and writes the new state last:
// a run that fails or is killed leaves no state, and the next run is a full one, which
// rewrites every file and removes whatever the tree holds that is not part of the site.
//
// Before this layout (state format 4 and older) every run built a complete new folder
// builds/<build>/, hard-linking the unchanged files, and swapped the symlink to it: at 150,000
// changesets that was 300,000 links a run. The first run of this layout is a full one into
// DIR/site; it then points current at it and removes builds/.
const (
	currentLink = "current"
	treeDir     = "site"
	stateDir    = "state"
	legacyDir   = "builds" // the per-run build folders of the previous layout
	stateFormat = 10
)

// state is what a run rendered, for the next incremental run.
type state struct {
	Format int
	// Snapshot is the database time of the run's snapshot: the next run re-renders changesets
	// updated after Snapshot minus the overlap.
	Snapshot time.Time
	// Config fingerprints the publish configuration and templates: a change forces a full run.
	Config  uint64
	Entries map[int64]*Entry
	// Files maps each file of the site to the fingerprint of its content.
	Files map[string]uint64
}

// builder writes the site's tree.
type builder struct {
	out   string
	name  string // the tree's folder name under out (treeDir)
	dir   string // out/site
	state string // out/state

	mu         sync.Mutex
	prev       map[string]uint64 // the files of the previous run (empty: write everything)
	prevShards []uint64
	dirty      map[int]bool // state shards whose entries changed
	files      map[string]uint64
	dirs       map[string]bool
	written    int
	kept       int
	tmpSeq     uint64
	invalid    bool // the previous state was removed (the tree is being changed)
	// fresh: the tree was empty when the run began (the first run, or a new --out): it then
	// holds only what the run writes, and a full run has nothing to sweep (at 150,000
	// changesets, reading a folder of 300,000 names).
	fresh bool
	// owned reports the files of the site that are not in files (the changesets' pages and
	// documents, which their entries record); sweep leaves them.
	owned func(rel string) bool
}

func newBuilder(out string) (*builder, error) {
	b := &builder{out: out, name: treeDir, dir: filepath.Join(out, treeDir), state: filepath.Join(out, stateDir),
		prev: map[string]uint64{}, files: map[string]uint64{}, dirs: map[string]bool{}, dirty: map[int]bool{}}
	b.fresh = emptyDir(b.dir)
	for _, d := range []string{b.dir, b.state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("publish: output folder %s: %w", out, err)
		}
	}
	return b, nil
}

// emptyDir reports whether dir has no entry (or does not exist).
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && err == io.EOF
}

// The state is out/state/: meta.gob (format, snapshot, configuration fingerprint, file
// fingerprints) and the entries in stateShards files by id, so that a run rewrites only the
// shards whose entries changed.
const stateShards = 256

type stateMeta struct {
	Format   int
	Snapshot time.Time
	Config   uint64
	Files    map[string]uint64
	Shards   []uint64
	Entries  int // how many (the map is made that big at once)
}

func shardName(i int) string { return fmt.Sprintf("entries-%04d.bin", i) }

// loadState reads the state of the last complete run; nil when there is none (a first run, a
// run of the previous layout, or a run that did not finish).
func (b *builder) loadState() (*state, error) {
	if target, err := os.Readlink(filepath.Join(b.out, currentLink)); err != nil || target != treeDir {
		return nil, nil // no site yet, or the previous layout's builds: a full run
	}
	f, err := os.Open(filepath.Join(b.state, "meta.gob"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var meta stateMeta
	if err := gob.NewDecoder(f).Decode(&meta); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if meta.Format != stateFormat || len(meta.Shards) != stateShards {
		return nil, fmt.Errorf("%s: state format %d, want %d", f.Name(), meta.Format, stateFormat)
	}
	st := &state{Format: meta.Format, Snapshot: meta.Snapshot, Config: meta.Config, Files: meta.Files, Entries: make(map[int64]*Entry, max(0, min(meta.Entries, 10_000_000)))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, stateShards)
	sem := make(chan struct{}, 8)
	for i := 0; i < stateShards; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			data, err := os.ReadFile(filepath.Join(b.state, shardName(i)))
			if err != nil {
				errs[i] = err
				return
			}
			es, err := decodeEntries(data)
			if err != nil {
				errs[i] = fmt.Errorf("%s shard %d: %w", b.state, i, err)
				return
			}
			mu.Lock()
			for _, e := range es {
				st.Entries[e.ID] = e
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	// The entries' HTML must be there (htmlStore).
	var end int64
	for _, e := range st.Entries {
		if x := e.HTMLAt + int64(e.HTMLLen); x > end {
			end = x
		}
	}
	if fi, err := os.Stat(filepath.Join(b.state, htmlFile)); err != nil || fi.Size() < end {
		return nil, fmt.Errorf("%s: the entries' html is missing or short (want %d bytes): %v", b.state, end, err)
	}
	b.prev = st.Files
	b.prevShards = meta.Shards
	return st, nil
}

// invalidate removes the previous run's state before the first file of the tree changes: from
// here until commit the tree matches no state.
func (b *builder) invalidate() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.invalid {
		return nil
	}
	if err := os.Remove(filepath.Join(b.state, "meta.gob")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("publish: invalidate state: %w", err)
	}
	b.invalid = true
	return nil
}

func (b *builder) mkdirFor(rel string) error {
	d := filepath.Dir(rel)
	if d == "." {
		return nil
	}
	b.mu.Lock()
	done := b.dirs[d]
	b.mu.Unlock()
	if done {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(b.dir, filepath.FromSlash(d)), 0o755); err != nil {
		return err
	}
	b.mu.Lock()
	b.dirs[d] = true
	b.mu.Unlock()
	return nil
}

// writeFile replaces the file at rel with data, atomically (writeNew), or creates it in place
// when there is none yet (createNew).
func (b *builder) writeFile(rel string, data []byte) error {
	if err := cleanRel(rel); err != nil {
		return err
	}
	if err := b.invalidate(); err != nil {
		return err
	}
	if err := b.mkdirFor(rel); err != nil {
		return err
	}
	path := filepath.Join(b.dir, filepath.FromSlash(rel))
	if created, err := createNew(path, data); created || err != nil {
		return err
	}
	b.mu.Lock()
	b.tmpSeq++
	seq := b.tmpSeq
	b.mu.Unlock()
	return writeNew(path, data, seq)
}

// createNew creates path with data when no file is there (O_EXCL); false when there is one
// (then writeNew replaces it). A file that did not exist is written in place, without a
// temporary file and a rename: no page of the site links to it yet (a run writes a page
// before the pages that link to it, and the previous run's pages link only to files it
// wrote), so no reader following the site reaches it before it is complete. A run killed
// while writing it leaves it short, and unlinked: the run had already removed the state, so
// the next run is a full one, which replaces the file (writeNew: it exists) or, when it is no
// longer part of the site, removes it (sweep). In a full run into a new folder, that is every
// file: one system call per file less (the rename), and no temporary name in the folder.
func createNew(path string, data []byte) (bool, error) {
	fd, err := openRetry(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC)
	if err == syscall.EEXIST {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := writeAll(fd, data); err != nil {
		syscall.Close(fd)
		syscall.Unlink(path)
		return false, &os.PathError{Op: "write", Path: path, Err: err}
	}
	if err := syscall.Close(fd); err != nil {
		syscall.Unlink(path)
		return false, &os.PathError{Op: "close", Path: path, Err: err}
	}
	return true, nil
}

// writeAll writes data to fd.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

// tmpPrefix starts the name of a file being written; a full run removes leftovers.
const tmpPrefix = ".publish-tmp-"

// writeNew replaces path with data atomically: it writes a new temporary file in the same
// folder (O_EXCL) and renames it over path. A reader that has path open keeps reading the old
// bytes; one that opens it gets the old file or the new one, never a mix. The old file (a
// hard link elsewhere, say) is never written through. It goes to the system calls directly:
// an os.File would also register each file with the poller and set a cleanup on it, for
// hundreds of thousands of files in a full run.
func writeNew(path string, data []byte, seq uint64) error {
	tmp := filepath.Join(filepath.Dir(path), tmpPrefix+strconv.FormatUint(seq, 36)+"-"+filepath.Base(path))
	const flags = syscall.O_WRONLY | syscall.O_CREAT | syscall.O_EXCL | syscall.O_CLOEXEC
	fd, err := openRetry(tmp, flags)
	if err == syscall.EEXIST {
		syscall.Unlink(tmp)
		fd, err = openRetry(tmp, flags)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: tmp, Err: err}
	}
	fail := func(op string, err error) error {
		syscall.Close(fd)
		syscall.Unlink(tmp)
		return &os.PathError{Op: op, Path: tmp, Err: err}
	}
	if err := writeAll(fd, data); err != nil {
		return fail("write", err)
	}
	if err := syscall.Close(fd); err != nil {
		syscall.Unlink(tmp)
		return &os.PathError{Op: "close", Path: tmp, Err: err}
	}
	if err := syscall.Rename(tmp, path); err != nil {
		syscall.Unlink(tmp)
		return &os.PathError{Op: "rename", Path: path, Err: err}
	}
	return nil
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags, 0o644)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

func (b *builder) record(rel string, fp uint64, kept bool) {
	b.mu.Lock()
	b.files[rel] = fp
	if kept {
		b.kept++
	} else {
		b.written++
	}
	b.mu.Unlock()
}

// write stores data at rel (its fingerprint is the hash of data) unless the file holds it.
func (b *builder) write(rel string, data []byte) error {
	fp := hashBytes(data)
	if b.keepIfSame(rel, fp) {
		return nil
	}
	if err := b.writeFile(rel, data); err != nil {
		return fmt.Errorf("publish: write %s: %w", rel, err)
	}
	b.record(rel, fp, false)
	return nil
}

// writeIf writes data at rel when changed, else leaves the file; rel is not recorded in the
// state's file list (a changeset's files: their entry records them).
func (b *builder) writeIf(rel string, data []byte, changed bool) error {
	if changed {
		if err := b.writeFile(rel, data); err != nil {
			return fmt.Errorf("publish: write %s: %w", rel, err)
		}
	}
	b.count(!changed)
	return nil
}

// countKept counts n files left as they were.
func (b *builder) countKept(n int) {
	b.mu.Lock()
	b.kept += n
	b.mu.Unlock()
}

// count counts a file written or kept that the file list does not hold.
func (b *builder) count(kept bool) {
	b.mu.Lock()
	if kept {
		b.kept++
	} else {
		b.written++
	}
	b.mu.Unlock()
}

// lazy stores what render writes at rel, unless the previous run wrote rel with the same
// fingerprint fp: then the file stays and render is not called.
func (b *builder) lazy(rel string, fp uint64, render func(w io.Writer) error) error {
	if b.keepIfSame(rel, fp) {
		return nil
	}
	buf := getBuf()
	defer putBuf(buf)
	if err := render(buf); err != nil {
		return fmt.Errorf("publish: render %s: %w", rel, err)
	}
	if err := b.writeFile(rel, buf.Bytes()); err != nil {
		return fmt.Errorf("publish: write %s: %w", rel, err)
	}
	b.record(rel, fp, false)
	return nil
}

// bufPool recycles the buffers pages are rendered into (a changeset page is ~10 kB: growing a
// fresh buffer for each of 10,000 pages is garbage and copying).
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 1<<20 { // a huge page (hostile input): let it go
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// keepIfSame keeps rel when the previous run wrote it with the fingerprint fp.
func (b *builder) keepIfSame(rel string, fp uint64) bool {
	b.mu.Lock()
	old, ok := b.prev[rel]
	b.mu.Unlock()
	if !ok || old != fp {
		return false
	}
	b.record(rel, fp, true)
	return true
}

// commit removes the files of the previous run that this one did not write or keep (pages of
// changesets that left the window), writes the state, and points current at the tree.
func (b *builder) commit(st *state, full bool) error {
	if err := b.invalidate(); err != nil {
		return err
	}
	if full {
		if !b.fresh {
			if err := b.sweep(); err != nil {
				return err
			}
		}
	} else {
		for rel := range b.prev {
			if _, ok := b.files[rel]; !ok && cleanRel(rel) == nil {
				if err := os.Remove(filepath.Join(b.dir, filepath.FromSlash(rel))); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("publish: remove %s: %w", rel, err)
				}
			}
		}
	}
	// The entries of the shards to write, by the map's keys: an entry of a shard that stays
	// is not read (at 150,000 entries that pass over memory was most of this function).
	var write [stateShards]bool
	for i := range write {
		write[i] = full || b.dirty[i] || i >= len(b.prevShards)
	}
	shards := make([][]*Entry, stateShards)
	for id, e := range st.Entries {
		if i := int(uint64(id) % stateShards); write[i] {
			shards[i] = append(shards[i], e)
		}
	}
	meta := stateMeta{Format: stateFormat, Snapshot: st.Snapshot, Config: st.Config, Files: b.files, Shards: make([]uint64, stateShards), Entries: len(st.Entries)}
	var wg sync.WaitGroup
	errs := make([]error, stateShards)
	sem := make(chan struct{}, 8)
	for i := range shards {
		// A shard none of whose entries changed is the previous run's.
		if !write[i] {
			meta.Shards[i] = b.prevShards[i]
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			es := shards[i]
			sort.Slice(es, func(a, c int) bool { return es[a].ID < es[c].ID })
			data := appendEntries(nil, es)
			meta.Shards[i] = hashBytes(data)
			errs[i] = writeNew(filepath.Join(b.state, shardName(i)), data, uint64(i))
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("publish: write state: %w", err)
		}
	}
	if full {
		// The entry shards of state format 6 and before (gob).
		old, _ := filepath.Glob(filepath.Join(b.state, "entries-*.gob"))
		for _, f := range old {
			os.Remove(f)
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(meta); err != nil {
		return fmt.Errorf("publish: encode state: %w", err)
	}
	if err := writeNew(filepath.Join(b.state, "meta.gob"), buf.Bytes(), 0); err != nil {
		return fmt.Errorf("publish: write state: %w", err)
	}
	cur := filepath.Join(b.out, currentLink)
	if target, err := os.Readlink(cur); err == nil && target == treeDir {
		return nil
	}
	tmp := filepath.Join(b.out, "."+currentLink+"-new")
	os.Remove(tmp)
	if err := os.Symlink(treeDir, tmp); err != nil {
		return fmt.Errorf("publish: symlink: %w", err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("publish: swap %s: %w", cur, err)
	}
	return nil
}

// sweep removes every file and empty folder of the tree that this run did not write: what a
// failed run or an older version left behind.
func (b *builder) sweep() error {
	var dirs []string
	err := filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(b.dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." {
				dirs = append(dirs, p)
			}
			return nil
		}
		if _, ok := b.files[rel]; !ok && (b.owned == nil || !b.owned(rel)) {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish: sweep %s: %w", b.dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // only when empty
	}
	return nil
}

// markDirty notes that the entry of changeset id changed (rendered again, added or removed).
func (b *builder) markDirty(id int64) {
	b.mu.Lock()
	b.dirty[int(uint64(id)%stateShards)] = true
	b.mu.Unlock()
}

// abort leaves the tree as it is (every file in it is complete) and no state: the next run is
// a full one.
func (b *builder) abort() {}

// cleanup removes the previous layout's build folders.
func (b *builder) cleanup() {
	os.RemoveAll(filepath.Join(b.out, legacyDir))
}

func hashBytes(p []byte) uint64 {
	h := fnv.New64a()
	h.Write(p)
	return h.Sum64()
}

// hashString is hashBytes([]byte(s)) without the copy (FNV-1a, 64 bits).
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// fingerprint hashes a sequence of values for lazy pages.
type fingerprint struct{ h uint64 }

func newFingerprint(kind string) *fingerprint {
	f := &fingerprint{h: 14695981039346656037}
	f.str(kind)
	return f
}

func (f *fingerprint) str(s string) *fingerprint {
	for i := 0; i < len(s); i++ {
		f.h ^= uint64(s[i])
		f.h *= 1099511628211
	}
	f.h ^= 0xff
	f.h *= 1099511628211
	return f
}

func (f *fingerprint) u64(v uint64) *fingerprint {
	for i := 0; i < 8; i++ {
		f.h ^= v & 0xff
		f.h *= 1099511628211
		v >>= 8
	}
	return f
}

func (f *fingerprint) sum() uint64 { return f.h }

// bytes adds a byte slice by its CRC-64 (a table-driven checksum, several times faster than
// the byte-at-a-time FNV over whole documents) and its length.
func (f *fingerprint) bytes(b []byte) *fingerprint {
	return f.u64(crc64.Checksum(b, crcTable)).u64(uint64(len(b)))
}

var crcTable = crc64.MakeTable(crc64.ECMA)
