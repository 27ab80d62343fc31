package fetch

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc, cumulative).
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// A gzip bomb stops at the limit having allocated nothing from its size: before, gunzip
// pre-allocated 8× the body and grew a buffer to the whole output.
func TestGunzipBombAllocatesLittle(t *testing.T) {
	bomb := gz(bytes.Repeat([]byte(" "), 64<<20)) // 64 MiB of white space, ~64 KiB gzipped
	var err error
	n := allocated(func() { _, err = gunzip(bomb, 1<<20) })
	if err == nil || !strings.Contains(err.Error(), "more than 1048576 bytes uncompressed") {
		t.Fatalf("gunzip of a bomb: %v", err)
	}
	if n > 4<<20 {
		t.Errorf("gunzip of a 64 MiB bomb with a 1 MiB limit allocated %d bytes", n)
	}
	// Within the limit, the output is allocated once, at its size.
	doc := bytes.Repeat([]byte("<osmChange/>\n"), 1<<18) // 3.25 MiB
	var out []byte
	n = allocated(func() { out, err = gunzip(gz(doc), 8<<20) })
	if err != nil || !bytes.Equal(out, doc) {
		t.Fatalf("gunzip: %v", err)
	}
	if n > uint64(len(doc))+2<<20 {
		t.Errorf("gunzip of %d bytes allocated %d", len(doc), n)
	}
}
