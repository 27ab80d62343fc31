package site

import (
	"fmt"
	"hash/fnv"
	"path"
	"strconv"
	"strings"
	"unicode"
)

// slug turns user-controlled text (a label, a user name) into a file name component that is
// safe on every file system and cannot leave its folder: lower-case ASCII letters, digits, '-'
// and '_', at most 48 characters, never empty, never "." or "..". When anything had to be
// changed a short hash of the original is appended, so that distinct names stay distinct.
func slug(s string) string {
	var b strings.Builder
	changed := false
	for _, r := range s {
		if b.Len() >= 48 {
			changed = true
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(unicode.ToLower(r))
			changed = true
		case r == '-':
			b.WriteRune(r)
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
			changed = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" || changed {
		h := fnv.New32a()
		h.Write([]byte(s))
		if out == "" {
			out = "x"
		}
		out = fmt.Sprintf("%s-%08x", out, h.Sum32())
	}
	return out
}

// labelFile is the page of a label, relative to the site root.
func labelFile(label string) string { return "labels/" + slug(label) + ".html" }

// labelPage is page n (1-based) of a label's list.
func labelPage(label string, n int) string {
	if n <= 1 {
		return labelFile(label)
	}
	return fmt.Sprintf("labels/%s-p%d.html", slug(label), n)
}

// userKey names a user's files: the numeric uid when known, else a slug of the name.
func userKey(user string, uid int64) string {
	if uid > 0 {
		return strconv.FormatInt(uid, 10)
	}
	return "name-" + slug(user)
}

func userPage(user string, uid int64, n int) string {
	if n <= 1 {
		return "users/" + userKey(user, uid) + ".html"
	}
	return fmt.Sprintf("users/%s-p%d.html", userKey(user, uid), n)
}

func changesetFile(id int64) string { return fmt.Sprintf("changesets/%d.html", id) }
func changesetJSON(id int64) string { return fmt.Sprintf("changesets/%d.json", id) }

func dayPage(day string, n int) string {
	if n <= 1 {
		return "days/" + day + ".html"
	}
	return fmt.Sprintf("days/%s-p%d.html", day, n)
}

// cleanRel checks that rel is a clean relative path inside the site: no "..", no absolute
// path, no empty or dot component. Every file the writer creates goes through it.
func cleanRel(rel string) error {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") || strings.ContainsRune(rel, 0) {
		return fmt.Errorf("unsafe site path %q", rel)
	}
	if path.Clean(rel) != rel {
		return fmt.Errorf("unsafe site path %q", rel)
	}
	for _, part := range strings.Split(rel, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("unsafe site path %q", rel)
		}
	}
	return nil
}

// depth is how many folders deep rel is ("index.html" 0, "labels/x.html" 1).
func depth(rel string) int { return strings.Count(rel, "/") }

// rootFrom is the relative path from the page rel to the site root ("", "../", …).
func rootFrom(rel string) string {
	if depth(rel) == 0 {
		return "./"
	}
	return strings.Repeat("../", depth(rel))
}

// regionFile is a region's page: regions/SLUG.html (the slug as for labels: safe in a URL and
// on any file system, with a hash when the name had to change).
func regionFile(name string) string { return "regions/" + slug(name) + ".html" }

func regionPage(name string, n int) string {
	if n <= 1 {
		return regionFile(name)
	}
	return fmt.Sprintf("regions/%s-p%d.html", slug(name), n)
}
