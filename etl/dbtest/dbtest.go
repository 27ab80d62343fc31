// Package dbtest gives tests a fresh PostGIS database and a fresh InfluxDB database on the
// local services that scripts/services.sh starts. Without the services' environment a test
// skips with a one-line reason, unless CI is set, where it fails.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osmtrack/osmtrack/etl/store"
)

// Env variables set by `scripts/services.sh env`.
const (
	EnvPG          = "OSMTRACK_TEST_PG_URL"       // read/write role with CREATEDB
	EnvPGAdmin     = "OSMTRACK_TEST_PG_ADMIN_URL" // superuser, for tests that need one
	EnvInflux      = "OSMTRACK_TEST_INFLUX_URL"
	EnvInfluxAdmin = "OSMTRACK_TEST_INFLUX_ADMIN" // "user:password"
	EnvInfluxRPC   = "OSMTRACK_TEST_INFLUX_RPC"
)

// Require returns the values of the env variables, skipping the test (failing it under CI)
// when one is unset.
func Require(t testing.TB, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			msg := fmt.Sprintf("%s is not set: run scripts/test.sh (or eval \"$(scripts/services.sh env)\")", n)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return vals
}

func randomName(prefix string) string {
	var b [5]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// DB is a fresh, migrated database.
type DB struct {
	Pool *pgxpool.Pool
	URL  string // URL of the read/write role on this database
	Name string
}

// PG creates a fresh database from the PostGIS template, applies the migrations and drops it
// when the test ends.
func PG(t testing.TB) *DB {
	t.Helper()
	db := Bare(t)
	if _, err := store.Migrate(context.Background(), db.Pool, slog.New(slog.NewTextHandler(io.Discard, nil)), ""); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// Bare creates a fresh database from the PostGIS template without osmtrack's schema (what a
// restore or `migrate` starts from) and drops it when the test ends.
func Bare(t testing.TB) *DB {
	t.Helper()
	base := Require(t, EnvPG)[0]
	ctx := context.Background()
	name := randomName("osmtrack_test_")
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", EnvPG, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE osmtrack_template"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	db := &DB{URL: u.String(), Name: name}
	pool, err := store.Open(ctx, db.URL, 8)
	if err != nil {
		t.Fatal(err)
	}
	db.Pool = pool
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return db
}

// URLAs returns the database's URL for another role and password.
func (d *DB) URLAs(user, password string) string {
	u, _ := url.Parse(d.URL)
	u.User = url.UserPassword(user, password)
	return u.String()
}

// Influx is a fresh InfluxDB database with admin credentials.
type Influx struct {
	URL      string
	Token    string // "admin:password"
	Database string
	Bucket   string // "database/autogen"
	RPC      string
}

// InfluxDB creates a fresh database and drops it when the test ends.
func InfluxDB(t testing.TB) *Influx {
	t.Helper()
	v := Require(t, EnvInflux, EnvInfluxAdmin)
	ix := &Influx{URL: v[0], Token: v[1], Database: randomName("osmtrack_test_"), RPC: os.Getenv(EnvInfluxRPC)}
	ix.Bucket = ix.Database + "/autogen"
	if _, err := ix.Query("CREATE DATABASE " + ix.Database); err != nil {
		t.Fatalf("influx: %v", err)
	}
	t.Cleanup(func() { ix.Query("DROP DATABASE " + ix.Database) })
	return ix
}

// Query runs an InfluxQL statement with the admin credentials and returns the JSON answer.
func (ix *Influx) Query(q string) (string, error) {
	user, pass, _ := strings.Cut(ix.Token, ":")
	form := url.Values{"q": {q}, "db": {ix.Database}}
	req, _ := http.NewRequest("POST", ix.URL+"/query", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 || strings.Contains(string(body), `"error"`) {
		return "", fmt.Errorf("influx query %q: %s: %s", q, resp.Status, body)
	}
	return string(body), nil
}

// IsolateEnv unsets every OSMTRACK_ variable except the OSMTRACK_TEST_ ones, so that code under
// test that reads its configuration from the environment (OSMTRACK_DATABASE_URL,
// OSMTRACK_INFLUX_URL, flags as OSMTRACK_<FLAG>) never reaches the demo's or a developer's
// databases after `eval "$(scripts/services.sh env)"`: tests set what they use (t.Setenv) and
// take their databases from PG and InfluxDB. Call it from TestMain before m.Run.
func IsolateEnv() {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OSMTRACK_") && !strings.HasPrefix(k, "OSMTRACK_TEST_") {
			os.Unsetenv(k)
		}
	}
}

// Exec runs one statement on db and fails the test with the statement if it errors.
func Exec(t testing.TB, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
