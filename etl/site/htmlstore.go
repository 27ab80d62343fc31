package site

import (
	"bufio"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sync"
	"unsafe"
)

// htmlStore keeps the entries' HTML (what the list pages show of each changeset) on disk
// instead of in memory: at 150,000 changesets that is about half a gigabyte. It is one
// append-only file, DIR/state/entries.html; an Entry holds the offset and length of its HTML
// (HTMLAt, HTMLLen), which the state saves. A full run writes a new file (entries.html.new,
// renamed at commit); an incremental run appends the entries it renders to the current one,
// so the previous state's offsets stay valid until the new state replaces it. When less than
// half of the file is still used, commit copies the live entries into a new file.
type htmlStore struct {
	path string // the file the state's offsets point into
	tmp  string // full run: the new file, renamed over path at commit

	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	size int64 // bytes in the file, including w's buffer
	// slack is how much unused space commit tolerates beyond the live bytes before compacting.
	slack int64
	// live is the HTML of the run's entries, in bytes: what put wrote and what keep counted.
	live int64
}

const htmlFile = "entries.html"

// openHTMLStore opens the store in the state folder: a new, empty one when fresh (a full run),
// else the current file for appending.
func openHTMLStore(stateDir string, fresh bool) (*htmlStore, error) {
	s := &htmlStore{path: filepath.Join(stateDir, htmlFile), slack: 16 << 20}
	name := s.path
	flags := os.O_RDWR | os.O_CREATE
	if fresh {
		s.tmp = s.path + ".new"
		name = s.tmp
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(name, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("publish: entries' html: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("publish: entries' html: %w", err)
	}
	s.f, s.size = f, st.Size()
	s.w = bufio.NewWriterSize(&offsetWriter{f: f, off: s.size}, 1<<20)
	return s, nil
}

// offsetWriter writes at increasing offsets (WriteAt: the file is also read meanwhile).
type offsetWriter struct {
	f   *os.File
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.f.WriteAt(p, o.off)
	o.off += int64(n)
	return n, err
}

// put appends an entry's HTML and sets its place in e.
func (s *htmlStore) put(e *Entry, h []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(h); err != nil {
		return fmt.Errorf("publish: entries' html: %w", err)
	}
	e.HTMLAt, e.HTMLLen = s.size, int32(len(h))
	s.size += int64(len(h))
	s.live += int64(len(h))
	return nil
}

// keep counts the HTML of an entry of the previous run that this run keeps as it is.
func (s *htmlStore) keep(e *Entry) {
	s.mu.Lock()
	s.live += int64(e.HTMLLen)
	s.mu.Unlock()
}

// flush writes the buffered HTML to the file (before anything reads it).
func (s *htmlStore) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("publish: entries' html: %w", err)
	}
	return nil
}

// htmlBufs recycles the buffers list pages' entries are read into (about 150 kB a page; a
// full run at 150,000 changesets reads about 9,500 pages, and allocating each buffer anew
// near the memory limit made the goroutines pay for the collector's work).
var htmlBufs = sync.Pool{New: func() any { return new([]byte) }}

// withHTML reads the HTML of the entries es into one buffer and calls use with it per entry.
// The strings are valid only during use: the buffer is reused afterwards.
func (s *htmlStore) withHTML(es []*Entry, use func([]template.HTML) error) error {
	if err := s.flush(); err != nil {
		return err
	}
	n := 0
	for _, e := range es {
		if e.HTMLLen < 0 || e.HTMLAt < 0 || e.HTMLAt+int64(e.HTMLLen) > s.size {
			return fmt.Errorf("publish: entries' html: changeset %d at %d+%d outside the file (%d bytes)", e.ID, e.HTMLAt, e.HTMLLen, s.size)
		}
		n += int(e.HTMLLen)
	}
	bp := htmlBufs.Get().(*[]byte)
	defer htmlBufs.Put(bp)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	buf := (*bp)[:n]
	at := 0
	for _, e := range es {
		b := buf[at : at+int(e.HTMLLen)]
		if _, err := s.f.ReadAt(b, e.HTMLAt); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
			return fmt.Errorf("publish: entries' html: changeset %d: %w", e.ID, err)
		}
		at += len(b)
	}
	// The entries are substrings of one string over the buffer, which nothing writes while
	// use runs: no copy per entry.
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	out := make([]template.HTML, len(es))
	at = 0
	for i, e := range es {
		out[i] = template.HTML(all[at : at+int(e.HTMLLen)])
		at += int(e.HTMLLen)
	}
	return use(out)
}

// commit makes the store the one the new state points into (entries are the run's entries:
// those it put or kept). When less than half of the file is used by the entries (changesets
// rendered again or gone), it first copies the live entries into a new file and reports
// true: their offsets changed (every state shard must be written).
func (s *htmlStore) commit(entries map[int64]*Entry) (moved bool, err error) {
	if err := s.flush(); err != nil {
		return false, err
	}
	if s.tmp == "" && s.size > 2*s.live+s.slack {
		if err := s.compact(entries); err != nil {
			return false, err
		}
		moved = true
	}
	if s.tmp != "" {
		if err := s.f.Sync(); err != nil {
			return false, fmt.Errorf("publish: entries' html: %w", err)
		}
		if err := os.Rename(s.tmp, s.path); err != nil {
			return false, fmt.Errorf("publish: entries' html: %w", err)
		}
		s.tmp = ""
	}
	return moved, nil
}

// compact copies the live entries into a new file (renamed over the store at commit).
func (s *htmlStore) compact(entries map[int64]*Entry) error {
	tmp := s.path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("publish: entries' html: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var off int64
	buf := make([]byte, 0, 64<<10)
	for _, e := range entries {
		if cap(buf) < int(e.HTMLLen) {
			buf = make([]byte, e.HTMLLen)
		}
		b := buf[:e.HTMLLen]
		if _, err := s.f.ReadAt(b, e.HTMLAt); err != nil && len(b) > 0 {
			f.Close()
			return fmt.Errorf("publish: entries' html: compact: changeset %d: %w", e.ID, err)
		}
		if _, err := w.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("publish: entries' html: compact: %w", err)
		}
		e.HTMLAt = off
		off += int64(len(b))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("publish: entries' html: compact: %w", err)
	}
	s.f.Close()
	s.f, s.size, s.tmp = f, off, tmp
	s.w = bufio.NewWriterSize(&offsetWriter{f: f, off: off}, 1<<20)
	return nil
}

func (s *htmlStore) close() error {
	if s == nil || s.f == nil {
		return nil
	}
	return s.f.Close()
}
