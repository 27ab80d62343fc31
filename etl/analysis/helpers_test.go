package analysis

import (
	"errors"
	"os"
	"sort"
	"testing"

	"github.com/osmtrack/osmtrack/etl/elements"
)

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }

func TestMain(m *testing.M) {
	code := m.Run()
	if simDir != "" {
		os.RemoveAll(simDir)
	}
	os.Exit(code)
}

// tagList is a tag list from a map, sorted by key (nil without tags).
func tagList(m map[string]string) []elements.Tag {
	var out []elements.Tag
	for k, v := range m {
		out = append(out, elements.Tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// act is the action named s ("" is none).
func act(s string) elements.Action {
	a, err := elements.ParseAction(s)
	if err != nil {
		panic(err)
	}
	return a
}
