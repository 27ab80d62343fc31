package site

import (
	"bytes"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc64"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The output folder (--out DIR) holds:
//
//	DIR/current            symlink to builds/<build>: the site (nginx serves DIR/current)
//	DIR/builds/<build>/    one complete site per publish run
//	DIR/builds/<build>.state/ what that run rendered (gob): the incremental publish starts from it
//
// A run builds a new folder, hard-linking the files it does not re-render from the current
// build, then swaps the symlink with rename(2): a reader sees the old site or the new one,
// never a mix. The build before the current one is kept for readers still on it; older ones
// are removed.
const (
	currentLink = "current"
	buildsDir   = "builds"
	stateSuffix = ".state"
	stateFormat = 4
)

// state is what a build holds, for the next incremental run.
type state struct {
	Format int
	// Snapshot is the database time of the run's snapshot: the next run re-renders changesets
	// updated after Snapshot minus the overlap.
	Snapshot time.Time
	// Config fingerprints the publish configuration and templates: a change forces a full run.
	Config  uint64
	Entries map[int64]*Entry
	// Files maps each file of the build to the fingerprint of its content.
	Files map[string]uint64
}

// builder writes one build folder.
type builder struct {
	out     string
	name    string
	dir     string
	prevDir string // the current build before this run ("" when none)

	mu         sync.Mutex
	prev       map[string]uint64
	prevShards []uint64
	dirty      map[int]bool // state shards whose entries changed
	files      map[string]uint64
	dirs       map[string]bool
	written    int
	linked     int
}

func newBuilder(out string) (*builder, error) {
	if err := os.MkdirAll(filepath.Join(out, buildsDir), 0o755); err != nil {
		return nil, fmt.Errorf("publish: output folder %s: %w", out, err)
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	name := time.Now().UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(rnd[:])
	b := &builder{out: out, name: name, dir: filepath.Join(out, buildsDir, name),
		prev: map[string]uint64{}, files: map[string]uint64{}, dirs: map[string]bool{}, dirty: map[int]bool{}}
	if err := os.Mkdir(b.dir, 0o755); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if target, err := os.Readlink(filepath.Join(out, currentLink)); err == nil {
		if p := filepath.Join(out, target); isBuild(out, p) {
			b.prevDir = p
		}
	}
	return b, nil
}

// isBuild reports whether p is a folder directly under out/builds.
func isBuild(out, p string) bool {
	rel, err := filepath.Rel(filepath.Join(out, buildsDir), p)
	if err != nil || rel == "." || strings.Contains(rel, string(filepath.Separator)) || strings.HasPrefix(rel, "..") {
		return false
	}
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// The state of a build is a folder next to it, builds/<build>.state/: meta.gob (format,
// snapshot, configuration fingerprint, file fingerprints) and the entries in stateShards
// files by id, so that a run rewrites only the shards whose entries changed and hard-links
// the others.
const stateShards = 256

type stateMeta struct {
	Format   int
	Snapshot time.Time
	Config   uint64
	Files    map[string]uint64
	Shards   []uint64
}

// loadState reads the state of the current build; nil when there is none.
func (b *builder) loadState() (*state, error) {
	if b.prevDir == "" {
		return nil, nil
	}
	dir := b.prevDir + stateSuffix
	f, err := os.Open(filepath.Join(dir, "meta.gob"))
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
	st := &state{Format: meta.Format, Snapshot: meta.Snapshot, Config: meta.Config, Files: meta.Files, Entries: map[int64]*Entry{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, stateShards)
	sem := make(chan struct{}, 8)
	for i := 0; i < stateShards; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("entries-%04d.gob", i)))
			if err != nil {
				errs[i] = err
				return
			}
			var es []*Entry
			if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&es); err != nil {
				errs[i] = fmt.Errorf("%s shard %d: %w", dir, i, err)
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
	b.prev = st.Files
	b.prevShards = meta.Shards
	return st, nil
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

// writeFile stores data in a new file at rel with one open, write and close. It never
// truncates an existing file: an existing path (a hard link shared with the previous build)
// is unlinked first. It goes to the system calls directly: an os.File would also try to
// register each file with the poller and set a cleanup on it, for 21,000 files a run.
func (b *builder) writeFile(rel string, data []byte) error {
	if err := cleanRel(rel); err != nil {
		return err
	}
	if err := b.mkdirFor(rel); err != nil {
		return err
	}
	return writeNew(filepath.Join(b.dir, filepath.FromSlash(rel)), data)
}

// writeNew creates path (O_EXCL; an existing file is unlinked and created again) and writes data.
func writeNew(path string, data []byte) error {
	const flags = syscall.O_WRONLY | syscall.O_CREAT | syscall.O_EXCL | syscall.O_CLOEXEC
	fd, err := openRetry(path, flags)
	if err == syscall.EEXIST {
		syscall.Unlink(path)
		fd, err = openRetry(path, flags)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			syscall.Close(fd)
			return &os.PathError{Op: "write", Path: path, Err: err}
		}
		if n == 0 {
			syscall.Close(fd)
			return &os.PathError{Op: "write", Path: path, Err: io.ErrShortWrite}
		}
		data = data[n:]
	}
	if err := syscall.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: err}
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

func (b *builder) record(rel string, fp uint64, linked bool) {
	b.mu.Lock()
	b.files[rel] = fp
	if linked {
		b.linked++
	} else {
		b.written++
	}
	b.mu.Unlock()
}

// write stores data at rel (its fingerprint is the hash of data).
func (b *builder) write(rel string, data []byte) error {
	fp := hashBytes(data)
	if ok, err := b.linkIfSame(rel, fp); ok || err != nil {
		return err
	}
	if err := b.writeFile(rel, data); err != nil {
		return fmt.Errorf("publish: write %s: %w", rel, err)
	}
	b.record(rel, fp, false)
	return nil
}

// lazy stores what render writes at rel, unless the previous build holds rel with the same
// fingerprint fp: then that file is linked and render is not called.
func (b *builder) lazy(rel string, fp uint64, render func(w io.Writer) error) error {
	if ok, err := b.linkIfSame(rel, fp); ok || err != nil {
		return err
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

// keep links rel from the previous build with its previous fingerprint. It reports false when
// the previous build does not have it.
func (b *builder) keep(rel string) (bool, error) {
	fp, ok := b.prev[rel]
	if !ok {
		return false, nil
	}
	return b.linkIfSame(rel, fp)
}

func (b *builder) linkIfSame(rel string, fp uint64) (bool, error) {
	if b.prevDir == "" {
		return false, nil
	}
	if old, ok := b.prev[rel]; !ok || old != fp {
		return false, nil
	}
	if err := cleanRel(rel); err != nil {
		return false, err
	}
	if err := b.mkdirFor(rel); err != nil {
		return false, err
	}
	src := filepath.Join(b.prevDir, filepath.FromSlash(rel))
	dst := filepath.Join(b.dir, filepath.FromSlash(rel))
	if err := os.Link(src, dst); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // the previous build lost it: render again
		}
		// No hard links here (another file system?): copy.
		if err := copyFile(src, dst); err != nil {
			return false, nil
		}
	}
	b.record(rel, fp, true)
	return true, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// commit writes the state next to the build and swaps the current symlink to it.
func (b *builder) commit(st *state) error {
	dir := b.dir + stateSuffix
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("publish: write state: %w", err)
	}
	shards := make([][]*Entry, stateShards)
	for _, e := range st.Entries {
		i := int(uint64(e.ID) % stateShards)
		shards[i] = append(shards[i], e)
	}
	meta := stateMeta{Format: stateFormat, Snapshot: st.Snapshot, Config: st.Config, Files: b.files, Shards: make([]uint64, stateShards)}
	var wg sync.WaitGroup
	errs := make([]error, stateShards)
	sem := make(chan struct{}, 8)
	for i := range shards {
		name := fmt.Sprintf("entries-%04d.gob", i)
		// A shard none of whose entries changed is the previous build's shard.
		if b.prevDir != "" && !b.dirty[i] && i < len(b.prevShards) {
			if os.Link(filepath.Join(b.prevDir+stateSuffix, name), filepath.Join(dir, name)) == nil {
				meta.Shards[i] = b.prevShards[i]
				continue
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			es := shards[i]
			sort.Slice(es, func(a, c int) bool { return es[a].ID < es[c].ID })
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(es); err != nil {
				errs[i] = err
				return
			}
			meta.Shards[i] = hashBytes(buf.Bytes())
			errs[i] = os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("publish: write state: %w", err)
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(meta); err != nil {
		return fmt.Errorf("publish: encode state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.gob"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("publish: write state: %w", err)
	}
	tmp := filepath.Join(b.out, "."+currentLink+"-"+b.name)
	if err := os.Symlink(filepath.Join(buildsDir, b.name), tmp); err != nil {
		return fmt.Errorf("publish: symlink: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(b.out, currentLink)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("publish: swap %s: %w", filepath.Join(b.out, currentLink), err)
	}
	return nil
}

// markDirty notes that the entry of changeset id changed (rendered again, added or removed).
func (b *builder) markDirty(id int64) {
	b.mu.Lock()
	b.dirty[int(uint64(id)%stateShards)] = true
	b.mu.Unlock()
}

// abort removes the unfinished build.
func (b *builder) abort() {
	os.RemoveAll(b.dir)
	os.RemoveAll(b.dir + stateSuffix)
}

// cleanup removes every build except the new one and the one it replaced.
func (b *builder) cleanup() {
	entries, err := os.ReadDir(filepath.Join(b.out, buildsDir))
	if err != nil {
		return
	}
	keep := map[string]bool{b.name: true}
	if b.prevDir != "" {
		keep[filepath.Base(b.prevDir)] = true
	}
	var names []string
	for _, e := range entries {
		n := strings.TrimSuffix(e.Name(), stateSuffix)
		if !keep[n] {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		os.RemoveAll(filepath.Join(b.out, buildsDir, n))
	}
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
