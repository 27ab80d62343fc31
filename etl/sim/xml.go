package sim

import (
	"strconv"
	"time"
)

// Hand-written XML: encoding/xml is far too slow for a planet day.

type tag struct{ k, v string }

type member struct {
	typ  byte // 'n', 'w', 'r'
	ref  int64
	role string
}

func appendEsc(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			rep = "&quot;"
		case '\n':
			rep = "&#10;"
		case '\r':
			rep = "&#13;"
		case '\t':
			rep = "&#9;"
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, rep...)
		start = i + 1
	}
	return append(b, s[start:]...)
}

// appendCoord writes a 1e-7 fixed-point coordinate the way the OSM API does (trailing zeros
// trimmed, at most seven decimals).
func appendCoord(b []byte, v int32) []byte {
	x := int64(v)
	if x < 0 {
		b = append(b, '-')
		x = -x
	}
	b = strconv.AppendInt(b, x/10000000, 10)
	frac := x % 10000000
	if frac == 0 {
		return b
	}
	var d [8]byte
	d[0] = '.'
	for i := 7; i >= 1; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 8
	for n > 1 && d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}

func appendTime(b []byte, unix int64) []byte {
	return time.Unix(unix, 0).UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
}

func appendAttrInt(b []byte, name string, v int64) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '"')
	b = strconv.AppendInt(b, v, 10)
	return append(b, '"')
}

func appendAttrStr(b []byte, name, v string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '"')
	b = appendEsc(b, v)
	return append(b, '"')
}

func appendTags(b []byte, indent string, tags []tag) []byte {
	for _, t := range tags {
		b = append(b, indent...)
		b = append(b, `<tag k="`...)
		b = appendEsc(b, t.k)
		b = append(b, `" v="`...)
		b = appendEsc(b, t.v)
		b = append(b, "\"/>\n"...)
	}
	return b
}

var typeName = map[byte]string{'n': "node", 'w': "way", 'r': "relation"}

// appendElement writes one element version. visible is written only when withVisible (the base
// file and API style); osmChange blocks carry the action instead.
func appendElement(b []byte, indent string, e *ev, withVisible bool) []byte {
	name := typeName[e.typ]
	b = append(b, indent...)
	b = append(b, '<')
	b = append(b, name...)
	b = appendAttrInt(b, "id", e.id)
	if withVisible {
		if e.act == 'd' {
			b = append(b, ` visible="false"`...)
		} else {
			b = append(b, ` visible="true"`...)
		}
	}
	b = appendAttrInt(b, "version", int64(e.ver))
	b = append(b, ` timestamp="`...)
	b = appendTime(b, e.ts)
	b = append(b, '"')
	b = appendAttrInt(b, "uid", e.uid)
	b = appendAttrStr(b, "user", e.user)
	b = appendAttrInt(b, "changeset", e.cs)
	if e.typ == 'n' && (e.act != 'd' || !withVisible) {
		b = append(b, ` lat="`...)
		b = appendCoord(b, e.lat)
		b = append(b, `" lon="`...)
		b = appendCoord(b, e.lon)
		b = append(b, '"')
	}
	if len(e.tags) == 0 && len(e.nodes) == 0 && len(e.members) == 0 {
		return append(b, "/>\n"...)
	}
	b = append(b, ">\n"...)
	in2 := indent + "  "
	for _, n := range e.nodes {
		b = append(b, in2...)
		b = append(b, `<nd ref="`...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, "\"/>\n"...)
	}
	for _, m := range e.members {
		b = append(b, in2...)
		b = append(b, `<member type="`...)
		b = append(b, typeName[m.typ]...)
		b = append(b, `" ref="`...)
		b = strconv.AppendInt(b, m.ref, 10)
		b = append(b, `" role="`...)
		b = appendEsc(b, m.role)
		b = append(b, "\"/>\n"...)
	}
	b = appendTags(b, in2, e.tags)
	b = append(b, indent...)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, ">\n"...)
}
