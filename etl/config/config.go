// Package config reads osmtrack's one YAML configuration file, strictly: an unknown key, a
// wrong type or an invalid value is an error naming the file, the line and the key. Secrets and
// endpoints come from the environment (see Env*).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Environment variables read by Load. docs/config.md lists them.
const (
	EnvConfig      = "OSMTRACK_CONFIG"       // path of the YAML file when --config is not given
	EnvDatabaseURL = "OSMTRACK_DATABASE_URL" // PostgreSQL URL (read/write role for ETL steps, read-only for publish)
	EnvInfluxURL   = "OSMTRACK_INFLUX_URL"   // InfluxDB base URL; metrics are off when empty
	EnvInfluxToken = "OSMTRACK_INFLUX_TOKEN" // InfluxDB 2 token, or "user:password" for InfluxDB 1.8
	// EnvInfluxReadToken is the credential for reading metrics (status, publish's run list); the
	// write token when unset. With InfluxDB 1.8 the reader has READ only, the writer WRITE only.
	EnvInfluxReadToken = "OSMTRACK_INFLUX_READ_TOKEN"
	EnvInfluxBucket    = "OSMTRACK_INFLUX_BUCKET" // bucket, "database/retention-policy" for InfluxDB 1.8
	EnvInfluxOrg       = "OSMTRACK_INFLUX_ORG"    // organisation (empty for InfluxDB 1.8)
)

// Config is the whole configuration. Every yaml key below (and in the section types) is
// documented in docs/config.md; a test checks that.
type Config struct {
	// Path is the file the configuration was read from ("" for defaults only).
	Path string `yaml:"-"`

	Database  Database          `yaml:"database"`
	Metrics   Metrics           `yaml:"metrics"`
	Log       Log               `yaml:"log"`
	OSM       OSM               `yaml:"osm"`
	Regions   map[string]Region `yaml:"regions"`
	Rules     Rules             `yaml:"rules"`
	Fetch     Fetch             `yaml:"fetch"`
	Changeset ChangesetFeed     `yaml:"changesets"`
	Filter    Filter            `yaml:"filter"`
	Analyse   Analyse           `yaml:"analyse"`
	Publish   Publish           `yaml:"publish"`
	Status    Status            `yaml:"status"`
	Prune     Prune             `yaml:"prune"`
	Backup    Backup            `yaml:"backup"`
}

// Database configures the PostGIS connection. The URL itself comes from OSMTRACK_DATABASE_URL.
type Database struct {
	URL          string `yaml:"-"`
	MaxConns     int32  `yaml:"max_conns"`
	ReadOnlyRole string `yaml:"read_only_role"`
}

// Metrics configures InfluxDB. Endpoint and secrets come from the environment.
type Metrics struct {
	URL   string `yaml:"-"`
	Token string `yaml:"-"`
	// ReadToken reads metrics back (OSMTRACK_INFLUX_READ_TOKEN); Token when empty.
	ReadToken string   `yaml:"-"`
	Bucket    string   `yaml:"-"`
	Org       string   `yaml:"-"`
	Timeout   Duration `yaml:"timeout"`
}

// Enabled reports whether metrics go anywhere.
func (m Metrics) Enabled() bool { return m.URL != "" }

// Reader is the credential for queries: ReadToken, or Token when no read token is set.
func (m Metrics) Reader() string {
	if m.ReadToken != "" {
		return m.ReadToken
	}
	return m.Token
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default returns the configuration a minimal (even empty) file yields.
func Default() Config {
	c := Config{
		Database: Database{MaxConns: 4},
		Metrics:  Metrics{Bucket: "osmtrack/autogen", Timeout: Duration(5e9)},
		Log:      Log{Level: "info", Format: "auto"},
	}
	for _, d := range sectionDefaults {
		d(&c)
	}
	return c
}

// sectionDefaults lets each section file add its defaults.
var sectionDefaults []func(*Config)

// sectionValidators lets each section file add its checks.
var sectionValidators []func(*Config) []FieldError

// FieldError is an invalid value at a key path such as "fetch.max_diffs".
type FieldError struct {
	Key string
	Msg string
}

func (e FieldError) Error() string { return e.Key + ": " + e.Msg }

// Error is a configuration error; the command exits 2 on it.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": key " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Load reads the file at path (or $OSMTRACK_CONFIG when path is ""; defaults when both are
// empty), then the environment, and validates the result.
func Load(path string) (*Config, error) {
	if path == "" {
		path = os.Getenv(EnvConfig)
	}
	c := Default()
	var root yaml.Node
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &Error{File: path, Msg: err.Error()}
		}
		if err := decode(data, path, &c, &root); err != nil {
			return nil, err
		}
		c.Path = path
	}
	c.applyEnv()
	if errs := c.Validate(); len(errs) > 0 {
		fe := errs[0]
		return nil, &Error{File: path, Line: lineOf(&root, fe.Key), Key: fe.Key, Msg: fe.Msg}
	}
	return &c, nil
}

// Parse decodes YAML bytes as Load does, without the environment; name is used in errors.
func Parse(data []byte, name string) (*Config, error) {
	c := Default()
	var root yaml.Node
	if err := decode(data, name, &c, &root); err != nil {
		return nil, err
	}
	c.Path = name
	if errs := c.Validate(); len(errs) > 0 {
		fe := errs[0]
		return nil, &Error{File: name, Line: lineOf(&root, fe.Key), Key: fe.Key, Msg: fe.Msg}
	}
	return &c, nil
}

func decode(data []byte, name string, c *Config, root *yaml.Node) error {
	if err := yaml.Unmarshal(data, root); err != nil {
		return yamlError(name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, errEOF()) {
		return yamlError(name, err)
	}
	// Relative file names in the config are relative to the config file.
	c.resolvePaths(filepath.Dir(name))
	return nil
}

func errEOF() error { return ioEOF }

// yamlError turns yaml.v3's "line N: field x not found in type T" into an Error with file,
// line and key.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		line, rest := splitLine(msg)
		key := ""
		if i := strings.Index(rest, "field "); i >= 0 {
			f := rest[i+len("field "):]
			if j := strings.Index(f, " not found"); j >= 0 {
				key = f[:j]
				rest = "unknown key"
			}
		}
		return &Error{File: name, Line: line, Key: key, Msg: rest}
	}
	line, rest := splitLine(strings.TrimPrefix(err.Error(), "yaml: "))
	return &Error{File: name, Line: line, Msg: rest}
}

func splitLine(msg string) (int, string) {
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		if i := strings.Index(msg, ":"); i >= 0 {
			return line, strings.TrimSpace(msg[i+1:])
		}
	}
	return 0, msg
}

// lineOf finds the line of a dotted key path in the document, or 0.
func lineOf(root *yaml.Node, key string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(key, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line = n.Content[i].Line
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return line
}

func (c *Config) applyEnv() {
	if v := os.Getenv(EnvDatabaseURL); v != "" {
		c.Database.URL = v
	}
	c.Metrics.URL = os.Getenv(EnvInfluxURL)
	c.Metrics.Token = os.Getenv(EnvInfluxToken)
	c.Metrics.ReadToken = os.Getenv(EnvInfluxReadToken)
	if v := os.Getenv(EnvInfluxBucket); v != "" {
		c.Metrics.Bucket = v
	}
	c.Metrics.Org = os.Getenv(EnvInfluxOrg)
}

// Validate checks values; the key paths of the errors use the yaml names.
func (c *Config) Validate() []FieldError {
	var errs []FieldError
	if c.Database.MaxConns < 1 {
		errs = append(errs, FieldError{"database.max_conns", "must be at least 1"})
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, FieldError{"log.level", fmt.Sprintf("%q is not one of debug, info, warn, error", c.Log.Level)})
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		errs = append(errs, FieldError{"log.format", fmt.Sprintf("%q is not one of auto, json, text", c.Log.Format)})
	}
	if c.Metrics.Timeout <= 0 {
		errs = append(errs, FieldError{"metrics.timeout", "must be positive"})
	}
	for _, v := range sectionValidators {
		errs = append(errs, v(c)...)
	}
	return errs
}

// pathResolvers lets section files make their file names relative to the config file.
var pathResolvers []func(c *Config, dir string)

func (c *Config) resolvePaths(dir string) {
	for _, r := range pathResolvers {
		r(c, dir)
	}
}

// ResolvePath makes p relative to dir unless it is absolute or empty.
func ResolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}
