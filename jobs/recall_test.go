package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osmtrack/osmtrack/etl/dbtest"
	"github.com/osmtrack/osmtrack/etl/sim"
)

// recallMinutes is how much of a simulated day the recall tests run: an hour and a half of the region
// profile (some 230 changesets, every kind of edit at least once) keeps CI fast; the demo runs
// the whole day.
const recallMinutes = 90

// TestRecallPrecision compares the changesets filter keeps with the changesets that edit inside
// the region, computed independently with osmium-tool: `osmium apply-changes --with-history` of
// the base world and the diffs, `osmium extract --with-history -s complete_ways -p region.poly`,
// and the changesets of the versions in that extract that the diffs made. Over the generated
// town and over the real Monaco extract as the world; seeded (osmtrack seed of the base world
// before the first fetch) and unseeded.
func TestRecallPrecision(t *testing.T) {
	needOsmiumTool(t)
	worlds := []struct {
		name string
		base string
	}{
		{"town", ""},
		{"monaco", "../testdata/osm/extracts/monaco-20150428.osm.pbf"},
	}
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			dir := t.TempDir()
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			// RECALL_MINUTES and RECALL_SEED measure other runs (1440 and 1: the demo's day);
			// RECALL_LIVE=1 fetches one diff a run, as the minutely CronJob does.
			minutes, seed := recallMinutes, int64(7)
			if v, err := strconv.Atoi(os.Getenv("RECALL_MINUTES")); err == nil && v > 0 {
				minutes = v
			}
			if v, err := strconv.ParseInt(os.Getenv("RECALL_SEED"), 10, 64); err == nil && v > 0 {
				seed = v
			}
			st, err := sim.Generate(context.Background(), sim.Options{Minutes: minutes, Seed: seed, Out: dir, StartTime: start, Base: w.base})
			if err != nil {
				t.Fatal(err)
			}
			want := osmiumInRegion(t, dir, st)
			for _, seeded := range []bool{true, false} {
				name := "unseeded"
				if seeded {
					name = "seeded"
				}
				t.Run(name, func(t *testing.T) {
					kept, analysed, req, fetchReq := runPipeline(t, dir, start, seeded)
					var tp, fn, fp int
					var missed []int64
					for id := range want {
						if kept[id] {
							tp++
						} else {
							fn++
							missed = append(missed, id)
						}
					}
					for id := range kept {
						if !want[id] {
							fp++
						}
					}
					recall := float64(tp) / float64(max(tp+fn, 1))
					precision := float64(tp) / float64(max(tp+fp, 1))
					t.Logf("%s %s: %d in-region changesets (osmium), %d kept by filter: recall %.2f%% (%d missed), precision %.2f%% (%d extra); analyse: %d changesets, API requests %+v; fetch (API fill and prefetch): %d element requests",
						w.name, name, len(want), len(kept), 100*recall, fn, 100*precision, fp, analysed, req, fetchReq.Elements)
					if len(missed) > 0 {
						t.Logf("missed changesets (first ones): %v", missed[:min(len(missed), 10)])
					}
					if len(want) < 50 {
						t.Fatalf("only %d in-region changesets: the simulation is too small to measure", len(want))
					}
					if precision < 0.99 {
						t.Errorf("precision %.2f%% < 99%%", 100*precision)
					}
					if seeded {
						if fn > 0 {
							t.Errorf("seeded: %d in-region changesets not kept (recall must be 100%%)", fn)
						}
						// Every before-state is in the store: analyse asks the API for none.
						// fetch asks only for what was created outside the seed's area since
						// the extract (nodes of roads the simulation adds outside the region
						// that in-region ways later join): at most one request per ten diffs.
						if req.Elements != 0 {
							t.Errorf("seeded: analyse made %d element requests, want none", req.Elements)
						}
						if fetchReq.Elements > int64(minutes/10) {
							t.Errorf("seeded: fetch made %d element requests for %d diffs, want at most %d", fetchReq.Elements, minutes, minutes/10)
						}
					} else {
						// fetch locates tag-only edits of old ways and relations with the API
						// (docs/fetch.md, API fill) and prefetches the before-states analyse
						// needs: recall as seeded, element requests (fetch's and analyse's)
						// fewer than the changesets analysed, and fetch's within the budget
						// (here at most one a diff on average).
						if recall < 0.995 {
							t.Errorf("unseeded: recall %.2f%% < 99.5%%", 100*recall)
						}
						if all := fetchReq.Elements + req.Elements; all >= int64(analysed) {
							t.Errorf("unseeded: %d element requests (fetch %d, analyse %d) for %d changesets analysed, want fewer",
								all, fetchReq.Elements, req.Elements, analysed)
						}
						// The fill's and the prefetch's requests: here at most three a diff on
						// average (docs/fetch.md, request budget).
						budget := 3 * int64(minutes)
						if fetchReq.Elements > budget {
							t.Errorf("unseeded: fetch made %d element requests for %d diffs, want at most %d", fetchReq.Elements, minutes, budget)
						}
					}
				})
			}
		})
	}
}

func needOsmiumTool(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("osmium"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("osmium-tool is not installed (scripts/install.sh installs it)")
		}
		t.Skip("osmium-tool is not installed")
	}
}

// osmiumInRegion is the oracle: the changesets of the diffs' versions in osmium's history
// extract of the region.
func osmiumInRegion(t *testing.T, dir string, st *sim.Stats) map[int64]bool {
	t.Helper()
	tmp := t.TempDir()
	base := filepath.Join(dir, "api/base.osm.gz")
	args := []string{"apply-changes", "--with-history", "-O", "-o", filepath.Join(tmp, "history.osh.pbf"), base}
	for seq := st.StartSeq; seq <= st.EndSeq; seq++ {
		args = append(args, filepath.Join(dir, "replication/minute", fmt.Sprintf("%03d/%03d/%03d.osc.gz", seq/1000000, seq/1000%1000, seq%1000)))
	}
	osmium(t, args...)
	osmium(t, "extract", "--with-history", "-s", "complete_ways", "-p", filepath.Join(dir, "region.poly"), "-O",
		"-o", filepath.Join(tmp, "region.opl"), filepath.Join(tmp, "history.osh.pbf"))
	osmium(t, "cat", "-O", "-o", filepath.Join(tmp, "base.opl"), base)
	inBase := map[string]bool{}
	readOPL(t, filepath.Join(tmp, "base.opl"), func(key string, _ int64) { inBase[key] = true })
	out := map[int64]bool{}
	readOPL(t, filepath.Join(tmp, "region.opl"), func(key string, cs int64) {
		if !inBase[key] {
			out[cs] = true
		}
	})
	return out
}

func osmium(t *testing.T, args ...string) {
	t.Helper()
	if b, err := exec.Command("osmium", args...).CombinedOutput(); err != nil {
		t.Fatalf("osmium %s: %v\n%s", args[0], err, b)
	}
}

// readOPL calls f with "n123 v4" and the changeset of every line.
func readOPL(t *testing.T, path string, f func(key string, cs int64)) {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		var cs int64
		for _, fl := range fields[2:6] {
			if strings.HasPrefix(fl, "c") {
				cs, _ = strconv.ParseInt(fl[1:], 10, 64)
			}
		}
		f(fields[0]+" "+fields[1], cs)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// runPipeline runs (seed,) fetch --changesets, fetch, filter and analyse through the CLI on a
// fresh database against the simulator, and returns the changesets filter kept, how many
// changesets analyse analysed, the API requests analyse made and those fetch made.
func runPipeline(t *testing.T, dir string, start time.Time, seeded bool) (map[int64]bool, int, sim.Requests, sim.Requests) {
	t.Helper()
	ctx := context.Background()
	db := dbtest.PG(t)
	srvSim, err := sim.Open(dir, sim.ServeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srvSim.Close()
	var h http.Handler = srvSim
	if os.Getenv("RECALL_DEBUG") != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := r.URL.Path; strings.Contains(p, "/api/0.6/") && !strings.Contains(p, "/user/") {
				t.Logf("API %s?%s", p, r.URL.RawQuery)
			}
			srvSim.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	maxDiffs := 100000
	if os.Getenv("RECALL_LIVE") != "" {
		maxDiffs = 1
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	y := fmt.Sprintf(`osm:
  replication_url: %[1]s/replication/minute/
  changeset_replication_url: %[1]s/replication/changesets/
  api_url: %[1]s/api/0.6/
  retries: 1
log:
  level: warn
regions:
  town:
    file: %[2]s
fetch:
  start: "%[3]s"
  max_diffs: %[4]d
  max_duration: 1h
changesets:
  start: "%[3]s"
  max_files: 100000
  max_duration: 1h
filter:
  metadata_wait: 1m
  batch_size: 500
  max_duration: 1h
analyse:
  batch_size: 100
  api_requests_per_second: 1000
`, srv.URL, filepath.Join(dir, "region.poly"), start.Format(time.RFC3339), maxDiffs)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OSMTRACK_DATABASE_URL", db.URL)
	t.Setenv("OSMTRACK_CONFIG", cfg)
	t.Setenv("OSMTRACK_INFLUX_URL", "")
	step := func(args ...string) {
		t.Helper()
		if code, out := runCLI(t, args...); code != exitOK {
			t.Fatalf("osmtrack %v: exit %d\n%s", args, code, out)
		}
	}
	if seeded {
		// A 1 km margin: in-region changesets that also edit just outside find those
		// before-states in the store too (Monaco's region is its extract shrunk by 5%).
		step("seed", "--extract", filepath.Join(dir, "api/base.osm.gz"), "--set-pointer", "--buffer-m", "1000")
	}
	pointer := func() uint64 {
		t.Helper()
		var ptr int64
		if err := db.Pool.QueryRow(ctx, `SELECT seq FROM replication_state WHERE name = 'minute'`).Scan(&ptr); err != nil {
			t.Fatal(err)
		}
		return uint64(ptr)
	}
	// The metadata first, as the CronJobs run: the changesets' bboxes tell fetch's API fill
	// which changesets could touch the region.
	step("fetch", "--changesets")
	atFetch := srvSim.Requests()
	step("fetch")
	for maxDiffs == 1 && pointer() < srvSim.Head() {
		step("fetch")
	}
	// One run each must reach the head (max_duration above): a run cut by the wall clock
	// would leave the rest of the day unfetched and measure the machine's load, not recall.
	if ptr := pointer(); ptr != srvSim.Head() {
		t.Fatalf("fetch stopped at %d, before the head %d", ptr, srvSim.Head())
	}
	before := srvSim.Requests()
	fetchReq := sim.Requests{Elements: before.Elements - atFetch.Elements}
	for range 10 {
		step("filter")
		step("analyse")
		var waiting int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM changesets WHERE state IN ('new', 'filtered')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
	}
	after := srvSim.Requests()
	req := sim.Requests{Elements: after.Elements - before.Elements, Changesets: after.Changesets - before.Changesets,
		Downloads: after.Downloads - before.Downloads, Users: after.Users - before.Users}
	kept := map[int64]bool{}
	rows, err := db.Pool.Query(ctx, `SELECT id FROM changesets WHERE state IN ('filtered', 'analysed', 'done', 'failed')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		kept[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var analysed int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM analyses`).Scan(&analysed)
	if os.Getenv("RECALL_DEBUG") != "" {
		rows, _ := db.Pool.Query(ctx, `SELECT c.id, c.state, coalesce(c.state_reason, '') || ' meta_seq=' || coalesce(c.meta_seq::text, '-') || ' bbox=' || coalesce(ST_AsText(c.bbox), '-') || ' created=' || coalesce(c.created_at::text, '-') || ' closed=' || coalesce(c.closed_at::text, '-'), c.tags->>'comment',
			(SELECT string_agg(e.type || e.id || 'v' || e.version || ' ' || coalesce(e.action, '') || ' ' || coalesce(ST_AsText(e.geom), '-') || ' ' || coalesce(array_length(e.nodes, 1), 0), '; ') FROM elements e WHERE e.changeset = c.id)
			FROM changesets c WHERE ($1 = '' AND c.state NOT IN ('filtered', 'analysed', 'done', 'failed') AND c.tracked) OR c.id::text = ANY(string_to_array($1, ',')) ORDER BY c.id LIMIT 40`, os.Getenv("RECALL_CS"))
		for rows.Next() {
			var id int64
			var st, reason string
			var comment, els *string
			rows.Scan(&id, &st, &reason, &comment, &els)
			t.Logf("not kept %d %s %q %v: %v", id, st, reason, deref(comment), deref(els))
		}
		rows.Close()
	}
	return kept, analysed, req, fetchReq
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
