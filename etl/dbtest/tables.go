package dbtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// WallClock are the columns that hold when something happened on this machine (or how long
// it took), which two runs over the same input never share: Tables compares only whether each
// is set. Every other column of every table is compared by value.
var WallClock = map[string]bool{
	"analyses.analysed_at":         true,
	"changesets.first_seen":        true,
	"changesets.meta_updated_at":   true,
	"changesets.filtered_at":       true,
	"changesets.analysed_at":       true,
	"changesets.next_attempt_at":   true,
	"changesets.updated_at":        true,
	"changesets.download_at":       true,
	"diffs.processing_ms":          true,
	"diffs.applied_at":             true,
	"osm_users.fetched_at":         true,
	"replication_state.updated_at": true,
	"schema_migrations.applied_at": true,
	"job_runs.run_id":              true,
	"job_runs.started_at":          true,
	"job_runs.finished_at":         true,
}

// WallClockKeys are the top-level keys of JSON columns that hold such a time: Tables compares
// the JSON without them.
var WallClockKeys = map[string][]string{
	"analyses.doc": {"analysed_at"},
}

// Tables returns, for every table of the public schema but those in skip, its row count and
// an md5 over every row with every column (WallClock columns as set or not), in a stable order.
// Two databases with equal Tables hold the same data.
func Tables(t testing.TB, db *pgxpool.Pool, skip ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		WHERE c.table_schema = 'public' ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		t.Fatalf("tables: %v", err)
	}
	cols := map[string][]string{}
	for rows.Next() {
		var tb, col string
		if err := rows.Scan(&tb, &col); err != nil {
			t.Fatalf("tables: %v", err)
		}
		cols[tb] = append(cols[tb], col)
	}
	rows.Close()
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	names := make([]string, 0, len(cols))
	for tb := range cols {
		if !skipped[tb] {
			names = append(names, tb)
		}
	}
	sort.Strings(names)
	out := map[string]string{}
	for _, tb := range names {
		exprs := make([]string, len(cols[tb]))
		for i, c := range cols[tb] {
			q := `"` + c + `"`
			if WallClock[tb+"."+c] {
				exprs[i] = fmt.Sprintf("CASE WHEN %s IS NULL THEN 'null' ELSE 'set' END", q)
			} else if keys := WallClockKeys[tb+"."+c]; len(keys) > 0 {
				exprs[i] = fmt.Sprintf("coalesce((%s - '{%s}'::text[])::text, 'null')", q, strings.Join(keys, ","))
			} else {
				exprs[i] = fmt.Sprintf("coalesce(%s::text, 'null')", q)
			}
		}
		var sum *string
		var n int
		q := fmt.Sprintf(`SELECT md5(string_agg(r, E'\n' ORDER BY r)), count(*) FROM (SELECT concat_ws('|', %s) AS r FROM %q) x`,
			strings.Join(exprs, ", "), tb)
		if err := db.QueryRow(ctx, q).Scan(&sum, &n); err != nil {
			t.Fatalf("checksum of %s: %v", tb, err)
		}
		s := ""
		if sum != nil {
			s = *sum
		}
		out[tb] = fmt.Sprintf("%d rows %s", n, s)
	}
	return out
}

// SameTables fails t for every table whose Tables entry differs, and says how.
func SameTables(t testing.TB, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("table %s: %s, want %s", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("table %s only in the second database", k)
		}
	}
}
