package analysis

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/config"
)

// go test ./etl/analysis/ -run Golden -update rewrites testdata/golden from the current code:
// only when a change of the documents is intended (say which in the commit).
var update = flag.Bool("update", false, "rewrite the golden analysis documents")

const goldenDir = "testdata/golden"

// goldenJSON is a document as the golden files hold it: indented JSON with analysed_at zeroed
// (the only field that depends on the clock).
func goldenJSON(t *testing.T, d *Document) []byte {
	t.Helper()
	c := *d
	c.AnalysedAt = time.Time{}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func goldenDigest(t *testing.T, d *Document) string {
	sum := sha256.Sum256(goldenJSON(t, d))
	return hex.EncodeToString(sum[:12])
}

// checkGolden compares got with the golden file name (or writes it with -update).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("%s differs from the golden file, first at line %d:\n got: %s\nwant: %s", name, i+1, g, w)
				break
			}
		}
	}
}

// maxGoldenJSON bounds the golden documents kept in full; a larger one is kept as its digest.
const maxGoldenJSON = 64 << 10

// checkGoldenDoc compares d with the golden document name.json, or with name.sha256 when the
// document is larger than maxGoldenJSON.
func checkGoldenDoc(t *testing.T, name string, d *Document) {
	t.Helper()
	if b := goldenJSON(t, d); len(b) <= maxGoldenJSON {
		checkGolden(t, name+".json", b)
		return
	}
	checkGolden(t, name+".sha256", []byte(goldenDigest(t, d)+"\n"))
}

// TestGoldenRealChangesets: the documents of the five real changesets (files alone, no history)
// are byte for byte the golden ones. A refactoring of the analysis must not change them.
func TestGoldenRealChangesets(t *testing.T) {
	for _, id := range []string{"151837465", "153177572", "154042452", "154244909", "155176527"} {
		t.Run(id, func(t *testing.T) {
			m, err := ReadMeta(filepath.Join(testdata, id+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			elems, err := ReadElements(filepath.Join(testdata, id+".osc"))
			if err != nil {
				t.Fatal(err)
			}
			a := &Analyzer{Config: config.Default().Analyse}
			d, _, err := a.Analyse(context.Background(), Input{Meta: m, Elems: elems})
			if err != nil {
				t.Fatal(err)
			}
			checkGoldenDoc(t, "real/"+id, d)
		})
	}
}

// goldenSimCodes are the per-element reason codes whose first changeset of the simulated day is
// kept in full as a golden document (readable evidence); every other document of the day is
// kept as a digest.
var goldenSimCodes = []string{"dragged_node", "large_building", "major_road_deleted", "place_changed", "very_long_name", "mass_deletion", "new_mapper"}

// TestGoldenSimulatedDay: every document of the simulated region day (see simulatedDay) has
// the golden digest, and the first changeset of each per-element reason code is the golden
// document in full. A refactoring of the analysis must not change any of them.
func TestGoldenSimulatedDay(t *testing.T) {
	day := simulatedDay(t)
	var digests bytes.Buffer
	full := map[string]int64{}
	for i, id := range day.ids {
		d := day.docs[i]
		fmt.Fprintf(&digests, "%d %s %s\n", id, goldenDigest(t, d), strings.Join(d.ReasonCodes(), ","))
		for _, code := range d.ReasonCodes() {
			for _, want := range goldenSimCodes {
				if code == want && full[code] == 0 {
					full[code] = id
					checkGoldenDoc(t, fmt.Sprintf("simday/%d", id), d)
				}
			}
		}
	}
	for _, code := range goldenSimCodes {
		if full[code] == 0 {
			t.Errorf("no changeset of the simulated day gave %s", code)
		}
	}
	if *update {
		checkGolden(t, "simday/digests.txt", digests.Bytes())
		return
	}
	// Compare line by line, naming every changeset whose document changed.
	want, err := os.ReadFile(filepath.Join(goldenDir, "simday/digests.txt"))
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	wantBy := map[int64]string{}
	sc := bufio.NewScanner(bytes.NewReader(want))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 2)
		id, _ := strconv.ParseInt(f[0], 10, 64)
		wantBy[id] = sc.Text()
	}
	changed := 0
	for _, line := range strings.Split(strings.TrimSuffix(digests.String(), "\n"), "\n") {
		id, _ := strconv.ParseInt(strings.SplitN(line, " ", 2)[0], 10, 64)
		if w, ok := wantBy[id]; !ok || w != line {
			changed++
			if changed <= 10 {
				t.Errorf("changeset %d: document changed:\n got: %s\nwant: %s", id, line, w)
			}
		}
		delete(wantBy, id)
	}
	if changed > 10 {
		t.Errorf("… %d changed documents in all", changed)
	}
	if len(wantBy) > 0 {
		t.Errorf("%d golden changesets no longer analysed", len(wantBy))
	}
}
