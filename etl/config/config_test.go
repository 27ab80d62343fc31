package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestEmptyFileGivesDefaults(t *testing.T) {
	c, err := Parse([]byte(""), "empty.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Fetch.MaxDiffs != 60 || c.Fetch.Pointer != "minute" || c.Publish.PageSize != 50 {
		t.Fatalf("defaults not applied: %+v", c.Fetch)
	}
}

func TestStrictDecoding(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		key        string
	}{
		{"unknown top-level key", "log:\n  level: info\nbogus: 1\n", 3, "bogus"},
		{"unknown nested key", "fetch:\n  max_diffs: 5\n  max_difs: 6\n", 3, "max_difs"},
		{"wrong type", "fetch:\n  max_diffs: lots\n", 2, ""},
		{"invalid value", "fetch:\n  pointer: minute\n  max_diffs: 0\n", 3, "fetch.max_diffs"},
		{"invalid enum", "log:\n  level: loud\n", 2, "log.level"},
		{"bad duration", "fetch:\n  max_duration: soon\n", 2, ""},
		{"bad url", "osm:\n  api_url: ftp://x\n", 2, "osm.api_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "cfg.yaml")
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.File != "cfg.yaml" || ce.Line != tc.line || ce.Key != tc.key {
				t.Fatalf("got file %q line %d key %q (%v); want line %d key %q", ce.File, ce.Line, ce.Key, err, tc.line, tc.key)
			}
			if !strings.Contains(err.Error(), "cfg.yaml:") {
				t.Fatalf("message does not name file and line: %v", err)
			}
		})
	}
}

func TestDurationDays(t *testing.T) {
	c, err := Parse([]byte("fetch:\n  retention: 7d\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.Fetch.Retention.D().Hours() != 168 {
		t.Fatalf("7d = %v", c.Fetch.Retention)
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv(EnvDatabaseURL, "postgres://u@h/db")
	t.Setenv(EnvInfluxURL, "http://influx:8086")
	t.Setenv(EnvInfluxBucket, "db/rp")
	t.Setenv(EnvConfig, "")
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != "postgres://u@h/db" || !c.Metrics.Enabled() || c.Metrics.Bucket != "db/rp" {
		t.Fatalf("environment not applied: %+v %+v", c.Database, c.Metrics)
	}
}

// yamlKeys lists the dotted yaml keys of a struct type, recursing into sections.
func yamlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		ft := f.Type
		if ft.Kind() == reflect.Map {
			ft = ft.Elem()
			key += ".NAME"
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() && ft.NumField() > 0 && ft.Name() != "Duration" {
			keys = append(keys, yamlKeys(ft, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

func TestEveryKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := yamlKeys(reflect.TypeOf(Config{}), "")
	if len(keys) < 20 {
		t.Fatalf("found only %d keys; the walker is broken", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/config.md does not document `%s`", k)
		}
	}
}
