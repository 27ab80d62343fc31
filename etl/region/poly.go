package region

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
)

// ParsePoly reads an Osmosis polygon filter file (.poly): a name line, then sections, each a
// header line (a leading "!" marks a hole), "lon lat" lines (any whitespace, scientific
// notation allowed) and END; a final END closes the file. Several outer rings are allowed,
// CRLF line ends are accepted, and files concatenated one after another (optionally separated
// by blank lines) are read as one region, as osmium does. Holes are assigned to the outer ring
// that contains them. Errors name file and line: "berlin.poly:12: ...".
func ParsePoly(r io.Reader, file string) (orb.MultiPolygon, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	type ring struct {
		hole bool
		pts  orb.Ring
		line int
	}
	var rings []ring
	const (
		wantName    = iota // expecting a file's name line
		wantSection        // expecting a section header or the END closing the file
		inSection          // reading coordinates until END
		done               // after a file's final END: blank lines or another concatenated file
	)
	state := wantName
	line := 0
	var cur *ring
	filesSeen := 0
	sectionsInFile := 0
	errf := func(format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(strings.TrimRight(sc.Text(), "\r"))
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		switch state {
		case wantName, done:
			if text == "" {
				continue
			}
			if state == wantName && text == "END" && filesSeen == 0 {
				return nil, errf("expected a name line, found END")
			}
			if state == done && (text == "END" || looksLikeCoordinates(text)) {
				return nil, errf("stray line %q after the final END", text)
			}
			state = wantSection
			filesSeen++
			sectionsInFile = 0
		case wantSection:
			if text == "" {
				continue
			}
			if text == "END" {
				if sectionsInFile == 0 {
					return nil, errf("polygon has no sections")
				}
				state = done
				continue
			}
			if looksLikeCoordinates(text) {
				return nil, errf("expected a section header or END, found coordinates %q", text)
			}
			rings = append(rings, ring{hole: strings.HasPrefix(text, "!"), line: line})
			cur = &rings[len(rings)-1]
			sectionsInFile++
			state = inSection
		case inSection:
			if text == "" {
				continue
			}
			if text == "END" {
				if len(cur.pts) < 3 {
					return nil, errf("section has %d points, a ring needs at least 3", len(cur.pts))
				}
				cur.pts = closeRing(cur.pts)
				if distinctPoints(cur.pts) < 3 {
					return nil, errf("section has fewer than 3 distinct points")
				}
				state = wantSection
				continue
			}
			p, err := parseCoordinates(text)
			if err != nil {
				return nil, errf("%v", err)
			}
			cur.pts = append(cur.pts, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, line+1, err)
	}
	line++ // errors at end of file point just past the last line
	switch state {
	case wantName:
		return nil, errf("empty file: no name line")
	case wantSection:
		if sectionsInFile == 0 {
			return nil, errf("unexpected end of file: no sections after the name line")
		}
		return nil, errf("unexpected end of file: missing the final END")
	case inSection:
		return nil, errf("unexpected end of file: section started on line %d has no END", cur.line)
	}

	var mp orb.MultiPolygon
	for _, r := range rings {
		if !r.hole {
			mp = append(mp, orb.Polygon{r.pts})
		}
	}
	if len(mp) == 0 {
		return nil, fmt.Errorf("%s: no outer ring (all sections are holes)", file)
	}
	for _, r := range rings {
		if !r.hole {
			continue
		}
		owner := -1
		for i := range mp {
			if ringContains(mp[i][0], r.pts[0]) {
				owner = i
				break
			}
		}
		if owner < 0 {
			return nil, fmt.Errorf("%s:%d: hole is not inside any outer ring", file, r.line)
		}
		mp[owner] = append(mp[owner], r.pts)
	}
	return mp, nil
}

func looksLikeCoordinates(s string) bool {
	_, err := parseCoordinates(s)
	return err == nil
}

func parseCoordinates(s string) (orb.Point, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return orb.Point{}, fmt.Errorf("expected \"lon lat\" or END, found %q", s)
	}
	lon, err1 := strconv.ParseFloat(f[0], 64)
	lat, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil {
		return orb.Point{}, fmt.Errorf("expected \"lon lat\" or END, found %q", s)
	}
	if math.IsNaN(lon) || math.IsNaN(lat) || lon < -360 || lon > 360 || lat < -90 || lat > 90 {
		return orb.Point{}, fmt.Errorf("coordinates %q out of range", s)
	}
	return orb.Point{lon, lat}, nil
}

// ringContains is the plain crossing-number test, used while building (not on hot paths).
func ringContains(r orb.Ring, p orb.Point) bool {
	in := false
	for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
		a, b := r[i], r[j]
		if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < a[0]+(p[1]-a[1])*(b[0]-a[0])/(b[1]-a[1]) {
			in = !in
		}
	}
	return in
}
