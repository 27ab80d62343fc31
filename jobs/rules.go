package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/osmtrack/osmtrack/etl/changeset"
	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/region"
	"github.com/osmtrack/osmtrack/etl/rules"
)

func init() {
	register(&command{name: "rules", summary: "try label rules offline (rules test) or validate a rules file (rules check)", run: runRules})
}

// loadRules loads the configured regions and rules; their errors are configuration errors.
func loadRules(cfg *config.Config) (*rules.Set, error) {
	regions, err := region.LoadSet(cfg.Regions)
	if err != nil {
		return nil, usagef("config %s: %v", cfg.Path, err)
	}
	set, err := rules.Load(cfg, regions)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return set, nil
}

// rulesFrom loads the rules file path (with the configuration's regions when configPath or
// $OSMTRACK_CONFIG names one), or the configuration's own rules when path is empty.
func rulesFrom(configPath, path string) (*rules.Set, error) {
	var cfg *config.Config
	if configPath != "" || os.Getenv(config.EnvConfig) != "" {
		c, _, err := loadConfig(configPath)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if path == "" {
		if cfg == nil {
			return nil, usagef("rules: give a rules file (or --config with rules)")
		}
		return loadRules(cfg)
	}
	var regions region.Set
	if cfg != nil {
		var err error
		if regions, err = region.LoadSet(cfg.Regions); err != nil {
			return nil, usagef("config %s: %v", cfg.Path, err)
		}
	}
	set, err := rules.LoadFile(path, regions)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return set, nil
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

const rulesUsage = "osmtrack rules test --rules FILE --changesets FILE.osm[.gz] [--osc FILE.osc[.gz] ...] [--extract FILE.osm.pbf ...] [--format text|json] [--config FILE]\n       osmtrack rules check [--config FILE] [FILE]"

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: %s", rulesUsage)
	}
	switch args[0] {
	case "test":
		return runRulesTest(ctx, args[1:], stdout)
	case "check":
		return runRulesCheck(args[1:], stdout)
	case "-h", "--help", "-help":
		fmt.Fprintf(stdout, "usage: %s\n", rulesUsage)
		return errHelp
	}
	return usagef("rules: unknown subcommand %q\nusage: %s", args[0], rulesUsage)
}

func runRulesCheck(args []string, out io.Writer) error {
	f := newFlags("rules check", "osmtrack rules check [--config FILE] [FILE]")
	configPath := f.String("config", "", "configuration file (its regions are available to the rules)")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 1 {
		return usagef("rules check: one rules file at most")
	}
	set, err := rulesFrom(*configPath, f.Arg(0))
	if err != nil {
		return err
	}
	var regions []string
	for _, r := range set.Regions() {
		regions = append(regions, r.Name)
	}
	if len(regions) == 0 {
		regions = []string{"(none: the whole planet)"}
	}
	fmt.Fprintf(out, "%s: ok: %d rules (%d need the analysis), regions: %s\n",
		set.File, len(set.Rules), len(set.Pending()), strings.Join(regions, ", "))
	return nil
}

// testedChangeset is one changeset in the JSON output of rules test.
type testedChangeset struct {
	ID       int64            `json:"id"`
	User     string           `json:"user,omitempty"`
	Labels   []string         `json:"labels"`
	Evidence []testedEvidence `json:"evidence"`
	Verdict  string           `json:"verdict"` // analyse or drop
	Reason   string           `json:"reason"`
}

type testedEvidence struct {
	Label string `json:"label"`
	Rule  string `json:"rule"`
	rules.Evidence
}

type testOutput struct {
	Changesets []testedChangeset `json:"changesets"`
	// Pending are labels whose rules need the analysis (reason predicates): not evaluated here.
	Pending []string `json:"pending,omitempty"`
}

func runRulesTest(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("rules test", rulesUsage)
	configPath := f.String("config", "", "configuration file (its regions, and its rules when --rules is not given)")
	rulesPath := f.String("rules", "", "rules file")
	format := f.String("format", "text", "output: text or json")
	var csFiles, oscFiles, extracts listFlag
	f.Var(&csFiles, "changesets", "changeset file (replication file or API metadata, .osm or .osm.gz); repeat or comma-separate")
	f.Var(&oscFiles, "osc", "osmChange file (minutely diff or changeset download, .osc or .osc.gz); repeat or comma-separate")
	f.Var(&extracts, "extract", "OSM extract (.osm.pbf, .osm[.gz|.bz2]) read as osmtrack seed reads it: the versions known before the --osc files; repeat or comma-separate")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.noArgs(); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("rules test: --format must be text or json, not %q", *format)
	}
	if len(csFiles) == 0 && len(oscFiles) == 0 {
		return usagef("rules test: give --changesets and/or --osc files\nusage: %s", rulesUsage)
	}
	if *rulesPath == "" && *configPath == "" && os.Getenv(config.EnvConfig) == "" {
		return usagef("rules test: give --rules FILE (or --config with rules)")
	}
	set, err := rulesFrom(*configPath, *rulesPath)
	if err != nil {
		return err
	}
	css, err := changeset.ReadFiles(ctx, changeset.Files{Changesets: csFiles, OSC: oscFiles, Extracts: extracts}, set.Regions())
	if err != nil {
		return fmt.Errorf("rules test: %w", err)
	}
	res := testOutput{Changesets: []testedChangeset{}, Pending: set.Pending()}
	for _, cs := range css {
		labels, v := set.Evaluate(cs, rules.PhaseFilter)
		tc := testedChangeset{ID: cs.ID, User: cs.User, Labels: []string{}, Evidence: []testedEvidence{}, Verdict: "drop", Reason: v.Reason}
		if v.Analyse {
			tc.Verdict = "analyse"
		}
		for _, l := range labels {
			tc.Labels = append(tc.Labels, l.Label)
			for _, e := range l.Evidence {
				tc.Evidence = append(tc.Evidence, testedEvidence{Label: l.Label, Rule: l.Rule, Evidence: e})
			}
		}
		res.Changesets = append(res.Changesets, tc)
	}
	if *format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	analyse := 0
	for _, tc := range res.Changesets {
		if tc.Verdict == "analyse" {
			analyse++
		}
		who := ""
		if tc.User != "" {
			who = " by " + tc.User
		}
		fmt.Fprintf(out, "changeset %d%s: %s (%s)\n", tc.ID, who, tc.Verdict, tc.Reason)
		for _, e := range tc.Evidence {
			fmt.Fprintf(out, "  %s [%s] %s: %s\n", e.Label, e.Rule, e.Predicate, e.Detail)
		}
	}
	fmt.Fprintf(out, "%d changesets: %d to analyse, %d dropped\n", len(res.Changesets), analyse, len(res.Changesets)-analyse)
	if len(res.Pending) > 0 {
		fmt.Fprintf(out, "not evaluated (need the analysis): %s\n", strings.Join(res.Pending, ", "))
	}
	return nil
}
