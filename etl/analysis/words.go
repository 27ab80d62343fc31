package analysis

import (
	"strings"
	"unicode"
)

// WordMatch is a word found in a text at a byte offset of the lowercased text.
type WordMatch struct {
	Word   string `json:"word"`
	Offset int    `json:"offset"`
}

// FindWords returns, for each position of the lowercased text that starts the text or follows a
// whitespace character, the longest word of words that starts there (a word prefix: "imported"
// matches "import"). At most one match per position, as a regular expression alternation would
// find.
func FindWords(text string, words []string) []WordMatch {
	lt := strings.ToLower(text)
	lw := make([]string, len(words))
	for i, w := range words {
		lw[i] = strings.ToLower(w)
	}
	var out []WordMatch
	prevSpace := true
	for i, r := range lt {
		if prevSpace {
			best := ""
			for _, w := range lw {
				if w != "" && len(w) > len(best) && strings.HasPrefix(lt[i:], w) {
					best = w
				}
			}
			if best != "" {
				out = append(out, WordMatch{Word: best, Offset: i})
			}
		}
		prevSpace = unicode.IsSpace(r)
	}
	return out
}

// CommentVerdict is the outcome of the comment word rule.
type CommentVerdict struct {
	Flagged  bool
	Suspect  []WordMatch
	Excluded []WordMatch
}

// CheckComment applies the comment rule: suspect words (the common words and the source words)
// and excluded words are matched as word prefixes at the start or after a space,
// case-insensitively; the comment is flagged when suspect matches outnumber excluded ones.
func CheckComment(comment string, suspect, excluded []string) CommentVerdict {
	v := CommentVerdict{Suspect: FindWords(comment, suspect), Excluded: FindWords(comment, excluded)}
	v.Flagged = len(v.Suspect) > len(v.Excluded)
	return v
}

// FindSubstrings returns the words of words that occur anywhere in the lowercased text, after
// removing the exception phrases (so "Yandex Panorama" does not count as "yandex", but
// "Yandex Panorama; Google" still counts "google").
func FindSubstrings(text string, words, exceptions []string) []string {
	lt := strings.ToLower(text)
	for _, e := range exceptions {
		if e != "" {
			lt = strings.ReplaceAll(lt, strings.ToLower(e), " ")
		}
	}
	var out []string
	for _, w := range words {
		if w != "" && strings.Contains(lt, strings.ToLower(w)) {
			out = append(out, w)
		}
	}
	return out
}
