package osmchange

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

const testdata = "../../testdata/osm"

func readOSC(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatalf("test data (testdata/osm): %v", err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		data, err = io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// realDiffs are every osmChange under the repository's test data.
func realDiffs(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, dir := range []string{"minutely", "changesets"} {
		files, _ := filepath.Glob(filepath.Join(testdata, dir, "*.osc*"))
		for _, f := range files {
			rel, _ := filepath.Rel(testdata, f)
			out[rel] = readOSC(t, rel)
		}
	}
	if len(out) == 0 {
		t.Fatal("no test data under testdata/osm")
	}
	return out
}

func Test241Counts(t *testing.T) {
	data := readOSC(t, "minutely/241.osc")
	for name, dec := range map[string]func([]byte) (*Change, error){"fast": DecodeFast, "reference": DecodeReference, "Decode": Decode} {
		c, err := dec(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, w, r := c.Counts()
		if n != 4120 || w != 576 || r != 1 {
			t.Fatalf("%s: got %d nodes, %d ways, %d relations; want 4120, 576, 1", name, n, w, r)
		}
		cs := map[int64]bool{}
		for _, e := range c.Elements {
			cs[e.Changeset] = true
		}
		if len(cs) != 59 {
			t.Fatalf("%s: %d changesets, want 59", name, len(cs))
		}
		if c.Fallback != "" {
			t.Fatalf("%s: fell back: %s", name, c.Fallback)
		}
	}
}

func Test871Counts(t *testing.T) {
	c, err := Decode(readOSC(t, "minutely/871.osc"))
	if err != nil {
		t.Fatal(err)
	}
	per := map[Action]int{}
	cs := map[int64]bool{}
	for _, e := range c.Elements {
		per[e.Action]++
		cs[e.Changeset] = true
	}
	if per[Create] != 174 || per[Modify] != 19 || per[Delete] != 1 || len(cs) != 7 {
		t.Fatalf("871.osc: %v, %d changesets; want 174/19/1 and 7", per, len(cs))
	}
}

// TestRealDataAgree decodes every real diff with both decoders; the fast one must not fall back.
func TestRealDataAgree(t *testing.T) {
	for name, data := range realDiffs(t) {
		fast, err := DecodeFast(data)
		if err != nil {
			t.Errorf("%s: fast: %v", name, err)
			continue
		}
		ref, err := DecodeReference(data)
		if err != nil {
			t.Errorf("%s: reference: %v", name, err)
			continue
		}
		if d := diff(fast, ref); d != "" {
			t.Errorf("%s: decoders disagree: %s", name, d)
		}
		if err := fast.Check(); err != nil {
			t.Errorf("%s: check: %v", name, err)
		}
	}
}

func TestFirstElement(t *testing.T) {
	c, err := Decode(readOSC(t, "minutely/241.osc"))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Elements[0]
	if e.Action != Modify || e.Type != Node || e.ID != 120817853 || e.Version != 6 || e.UID != 8710057 ||
		e.User != "CartoDog" || e.Changeset != 85063078 || e.Lat != -45.1522204 || e.Lon != -73.6769128 ||
		!e.HasCoords || !e.Visible || e.Timestamp.Format("2006-01-02T15:04:05Z07:00") != "2020-05-12T06:12:28Z" {
		t.Fatalf("first element: %+v", e)
	}
	for _, e := range c.Elements {
		if e.Action == Delete && e.Visible {
			t.Fatalf("deleted element visible: %+v", e)
		}
	}
}

func TestBadInput(t *testing.T) {
	cases := map[string]struct{ doc, want string }{
		"empty":           {"", "empty document"},
		"not xml":         {"\x1f\x8b\x08garbage", "XML syntax error"},
		"truncated":       {`<osmChange version="0.6"><create><node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"/>`, "unexpected EOF"},
		"mismatched":      {`<osmChange><create></modify></osmChange>`, "XML syntax error"},
		"unknown element": {`<osmChange><create><banana id="1"/></create></osmChange>`, "unknown element <banana>"},
		"unknown action":  {`<osmChange><upsert/></osmChange>`, "unknown element <upsert>"},
		"unknown child":   {`<osmChange><create><node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"><x/></node></create></osmChange>`, "unknown element <x> in <node>"},
		"wrong root":      {`<osm version="0.6"></osm>`, "root element is <osm>"},
		"bad number":      {`<osmChange><create><node id="x" version="1"/></create></osmChange>`, `id="x" is not a decimal integer`},
		// Exact decoding: encoding/xml alone reads "" as 0 and ParseFloat reads hexadecimal.
		"empty coords":    {`<osmChange><create><node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="" lon=""/></create></osmChange>`, `node 1 v1: lat="" is not a decimal number`},
		"hex coords":      {`<osmChange><create><node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="0x1p3" lon="2"/></create></osmChange>`, `lat="0x1p3" is not a decimal number`},
		"inf coords":      {`<osmChange><create><node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="Inf"/></create></osmChange>`, `lon="Inf" is not a decimal number`},
		"empty version":   {`<osmChange><create><way id="1" version="" changeset="1" timestamp="2020-01-01T00:00:00Z"/></create></osmChange>`, `version="" is not a decimal integer`},
		"empty changeset": {`<osmChange><create><way id="1" version="1" changeset="" timestamp="2020-01-01T00:00:00Z"/></create></osmChange>`, `changeset="" is not a decimal integer`},
		"hex id":          {`<osmChange><create><way id="0x10" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"/></create></osmChange>`, `id="0x10" is not a decimal integer`},
		"empty nd ref":    {`<osmChange><create><way id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"><nd ref=""/></way></create></osmChange>`, `ref="" is not a decimal integer`},
		"id too big":      {`<osmChange><create><way id="9223372036854775808" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"/></create></osmChange>`, "out of range"},
		"in tag":          {`<osmChange><create><way id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"><tag k="a" v="b"><x/></tag></way></create></osmChange>`, "unknown element <x> in <tag>"},
		"in nd":           {`<osmChange><create><way id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"><nd ref="1"><nd ref="2"/></nd></way></create></osmChange>`, "unknown element <nd> in <nd>"},
		"in member":       {`<osmChange><create><relation id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"><member type="way" ref="1" role=""><tag k="a" v="b"/></member></relation></create></osmChange>`, "unknown element <tag> in <member>"},
		"member in way":   {`<osmChange><create><way id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"><member type="way" ref="1" role=""/></way></create></osmChange>`, "unknown element <member> in <way>"},
		"text in modify":  {`<osmChange><modify>hello</modify></osmChange>`, `text "hello" in <modify>`},
		"text in node":    {`<osmChange><create><node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"><![CDATA[x]]></node></create></osmChange>`, `text "x" in <node>`},
		"text in tag":     {`<osmChange><create><way id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"><tag k="a" v="b">x</tag></way></create></osmChange>`, `text "x" in <tag>`},
		"text after root": {`<osmChange/>trailing`, `text "trailing" outside <osmChange>`},
		"unknown entity":  {`<osmChange generator="&nbsp;"/>`, "invalid character entity"},
		"bad member type": {`<osmChange><create><relation id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"><member type="area" ref="1" role=""/></relation></create></osmChange>`, "member of unknown type"},
		"second root":     {`<osmChange/><osmChange/>`, "after the end of <osmChange>"},
		"bad timestamp":   {`<osmChange><create><node id="1" version="1" timestamp="yesterday"/></create></osmChange>`, "cannot parse"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	head := `<osmChange version="0.6"><create>`
	tail := `</create></osmChange>`
	cases := map[string]struct{ body, want string }{
		"twice": {`<node id="1" version="2" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"/>` +
			`<node id="1" version="2" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"/>`, "node 1 v2 appears twice"},
		"no id":        {`<node version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"/>`, "id must be positive"},
		"no version":   {`<way id="3" changeset="1" timestamp="2020-01-01T00:00:00Z"/>`, "version must be at least 1"},
		"no changeset": {`<way id="3" version="1" timestamp="2020-01-01T00:00:00Z"/>`, "changeset must be positive"},
		"no time":      {`<way id="3" version="1" changeset="4"/>`, "no timestamp"},
		"no coords":    {`<node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z"/>`, "no lat/lon"},
		"range":        {`<node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="91" lon="2"/>`, "out of range"},
		"nd 0":         {`<way id="3" version="1" changeset="4" timestamp="2020-01-01T00:00:00Z"><nd ref="-5"/></way>`, "references node -5"},
		// 2^32+2: an int32 cast would store version 2.
		"version 2^32+2": {`<way id="3" version="4294967298" changeset="4" timestamp="2020-01-01T00:00:00Z"/>`, "version 4294967298 out of range"},
		"version 2^31":   {`<way id="3" version="2147483648" changeset="4" timestamp="2020-01-01T00:00:00Z"/>`, "out of range"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := Decode([]byte(head + tc.body + tail))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFallbackCases(t *testing.T) {
	ok := `<node id="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2">`
	cases := map[string]string{
		"comment":   `<osmChange><!-- hi --><create>` + ok + `</node></create></osmChange>`,
		"cdata":     `<osmChange><create>` + ok + `<![CDATA[ ]]></node></create></osmChange>`,
		"namespace": `<osmChange xmlns:x="http://x"><create>` + ok + `</node></create></osmChange>`,
		"bool":      `<osmChange><create><node id="1" visible="1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"/></create></osmChange>`,
		"space num": `<osmChange><create><node id=" 1" version="1" changeset="1" timestamp="2020-01-01T00:00:00Z" lat="1" lon="2"/></create></osmChange>`,
		"tz":        `<osmChange><create><node id="1" version="1" changeset="1" timestamp="2020-01-01T01:00:00+01:00" lat="1" lon="2"/></create></osmChange>`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeFast([]byte(doc))
			if _, isFB := err.(*FallbackError); !isFB {
				t.Fatalf("fast path did not fall back: %v", err)
			}
			c, err := Decode([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if c.Fallback == "" || len(c.Elements) != 1 || c.Elements[0].ID != 1 {
				t.Fatalf("fallback decode: %+v", c)
			}
		})
	}
}

func TestEntities(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<osmChange version="0.6"><modify><way id="7" version="2" changeset="3" timestamp="2020-01-01T00:00:00Z" user="a&amp;b &#233;&#xE9;"><nd ref="1"/><nd ref="2"/><tag k="name" v="&lt;&gt;&quot;&apos;"/></way></modify></osmChange>`
	c, err := DecodeFast([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Elements[0]
	if e.User != "a&b éé" || e.Tags[0].Value != `<>"'` || !reflect.DeepEqual(e.Nodes, []int64{1, 2}) {
		t.Fatalf("%+v", e)
	}
	ref, _ := DecodeReference([]byte(doc))
	if d := diff(c, ref); d != "" {
		t.Fatal(d)
	}
}

// diff compares two decodings; "" when equal.
func diff(a, b *Change) string {
	if len(a.Elements) != len(b.Elements) {
		return "element counts differ"
	}
	for i := range a.Elements {
		x, y := a.Elements[i], b.Elements[i]
		if !x.Timestamp.Equal(y.Timestamp) {
			return "timestamps differ at " + refOf(&x)
		}
		x.Timestamp = y.Timestamp
		if math.Float64bits(x.Lat) != math.Float64bits(y.Lat) || math.Float64bits(x.Lon) != math.Float64bits(y.Lon) {
			if !(math.IsNaN(x.Lat) && math.IsNaN(y.Lat)) && !(math.IsNaN(x.Lon) && math.IsNaN(y.Lon)) {
				return "coordinates differ at " + refOf(&x)
			}
		}
		x.Lat, x.Lon, y.Lat, y.Lon = 0, 0, 0, 0
		if !reflect.DeepEqual(x, y) {
			return "elements differ: fast " + refOf(&x) + " vs reference " + refOf(&y)
		}
	}
	return ""
}

// fuzzSeeds are the real diffs plus small hand-made documents.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, d := range realDiffs(t) {
		seeds = append(seeds, excerpt(d, 25))
	}
	seeds = append(seeds,
		[]byte(`<osmChange/>`),
		[]byte(`<?xml version='1.0' encoding='UTF-8'?><osmChange version="0.6"><delete><node id="1" version="2" changeset="3" timestamp="2020-01-01T00:00:00Z" lat="1.5" lon="-2e1"/></delete></osmChange>`),
		[]byte(`<osmChange><create><relation id="1" version="1" changeset="1" timestamp="2020-02-29T23:59:59Z" user="&#x1F600;"><member type="way" ref="5" role="outer"/><tag k="type" v="multipolygon"/></relation></create></osmChange>`),
	)
	return seeds
}

// TestFuzzSeeds runs the fuzz property on the seed corpus in every normal test run.
func TestFuzzSeeds(t *testing.T) {
	for _, s := range fuzzSeeds(t) {
		agree(t, s)
	}
}

func agree(t *testing.T, data []byte) {
	fast, ferr := DecodeFast(data)
	if _, fb := ferr.(*FallbackError); fb {
		return
	}
	if ferr != nil {
		t.Fatalf("fast decoder returned a non-fallback error: %v", ferr)
	}
	ref, rerr := DecodeReference(data)
	if rerr != nil {
		t.Fatalf("fast decoder accepted what the reference rejects (%v): %q", rerr, truncate(data))
	}
	if d := diff(fast, ref); d != "" {
		t.Fatalf("%s: %q", d, truncate(data))
	}
	if (fast.Check() == nil) != (ref.Check() == nil) {
		t.Fatalf("checks disagree: %v vs %v", fast.Check(), ref.Check())
	}
}

// excerpt cuts a real diff after about n lines at an element boundary and closes it, so the
// fuzzer starts from small, real documents.
func excerpt(doc []byte, n int) []byte {
	var out bytes.Buffer
	action, inElem := "", false
	for i, line := range strings.Split(string(doc), "\n") {
		tl := strings.TrimSpace(line)
		out.WriteString(line + "\n")
		switch {
		case tl == "<create>" || tl == "<modify>" || tl == "<delete>":
			action = tl[1 : len(tl)-1]
		case tl == "</create>" || tl == "</modify>" || tl == "</delete>":
			action = ""
		case (strings.HasPrefix(tl, "<node") || strings.HasPrefix(tl, "<way") || strings.HasPrefix(tl, "<relation")) && !strings.HasSuffix(tl, "/>"):
			inElem = true
		case tl == "</node>" || tl == "</way>" || tl == "</relation>":
			inElem = false
		case strings.HasPrefix(tl, "</osmChange"):
			return out.Bytes()
		}
		if i >= n && !inElem {
			if action != "" {
				out.WriteString("</" + action + ">\n")
			}
			out.WriteString("</osmChange>\n")
			return out.Bytes()
		}
	}
	return out.Bytes()
}

func TestExcerptsDecode(t *testing.T) {
	for name, d := range realDiffs(t) {
		c, err := DecodeFast(excerpt(d, 25))
		if err != nil || len(c.Elements) == 0 {
			t.Fatalf("%s: excerpt does not decode: %v", name, err)
		}
	}
}

func truncate(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agree(t, data)
	})
}

func BenchmarkDecode241(b *testing.B) {
	data := readOSC(b, "minutely/241.osc")
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := DecodeFast(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := DecodeReference(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestLimits(t *testing.T) {
	el := func(body string) string {
		return `<way id="3" version="1" changeset="4" timestamp="2020-01-01T00:00:00Z">` + body + `</way>`
	}
	doc := func(body string) []byte {
		return []byte(`<osmChange version="0.6"><modify>` + body + `</modify></osmChange>`)
	}
	lim := Limits{MaxElements: 2, MaxTags: 2, MaxValueBytes: 8, MaxWayNodes: 2, MaxMembers: 2}
	rel := func(n int) string {
		return `<relation id="9" version="1" changeset="4" timestamp="2020-01-01T00:00:00Z">` +
			strings.Repeat(`<member type="node" ref="1" role="r"/>`, n) + `</relation>`
	}
	cases := map[string]struct {
		doc  []byte
		want string // "" when within the limits
	}{
		"within":       {doc(el(`<nd ref="1"/><nd ref="2"/><tag k="a" v="12345678"/><tag k="b" v="c"/>`) + rel(2)), ""},
		"elements":     {doc(el("") + el("") + el("")), "more than 2 elements in the document"},
		"tags":         {doc(el(`<tag k="a" v="b"/><tag k="b" v="b"/><tag k="c" v="b"/>`)), "more than 2 tags in way 3 v1"},
		"value":        {doc(el(`<tag k="a" v="123456789"/>`)), "more than 8 bytes in the value of tag a of way 3 v1"},
		"key":          {doc(el(`<tag k="123456789" v="a"/>`)), "more than 8 bytes in a tag key of way 3 v1"},
		"way nodes":    {doc(el(`<nd ref="1"/><nd ref="2"/><nd ref="3"/>`)), "more than 2 nodes in way 3 v1"},
		"members":      {doc(rel(3)), "more than 2 members in relation 9 v1"},
		"user":         {doc(`<way id="3" version="1" changeset="4" timestamp="2020-01-01T00:00:00Z" user="123456789"/>`), "more than 8 bytes in the user name of way 3 v1"},
		"ref elements": {[]byte(`<!-- a comment sends it to the reference decoder -->` + string(doc(el("")+el("")+el("")))), "more than 2 elements in the document"},
		"ref tags":     {[]byte(`<!-- x -->` + string(doc(el(`<tag k="a" v="b"/><tag k="b" v="b"/><tag k="c" v="b"/>`)))), "more than 2 tags in way 3 v1"},
		"ref members":  {[]byte(`<!-- x -->` + string(doc(rel(3)))), "more than 2 members in relation 9 v1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeLimited(tc.doc, lim)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a *LimitError containing %q", err, tc.want)
			}
			// Without limits the same document decodes.
			if _, err := Decode(tc.doc); err != nil {
				t.Fatalf("without limits: %v", err)
			}
		})
	}
}

// The fast decoder allocates from what the document holds, not from its length: before, 16 MiB
// of white space made it allocate room for 80,000 elements.
func TestNoPreallocationFromLength(t *testing.T) {
	doc := []byte(`<osmChange version="0.6">` + strings.Repeat(" ", 16<<20) + `</osmChange>`)
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	c, err := DecodeFast(doc)
	runtime.ReadMemStats(&b)
	if err != nil || len(c.Elements) != 0 {
		t.Fatalf("%v", err)
	}
	if n := b.TotalAlloc - a.TotalAlloc; n > 1<<20 {
		t.Errorf("decoding 16 MiB of white space allocated %d bytes", n)
	}
}
