package main

import (
	"strings"
	"testing"
)

func TestFlagsFromEnvironment(t *testing.T) {
	newSet := func(cmd string) (*flags, *bool, *string) {
		f := newFlags(cmd, "osmtrack "+cmd)
		return f, f.Bool("force", false, ""), f.String("changesets", "", "")
	}
	// A variable naming one command sets that command's flag, and no other command's.
	t.Setenv("OSMTRACK_FETCH_FORCE", "true")
	t.Setenv("OSMTRACK_RULES_TEST_CHANGESETS", "a.osc")
	f, force, cs := newSet("fetch")
	if err := f.parse(nil); err != nil || !*force || *cs != "" {
		t.Errorf("fetch: err %v force %v changesets %q", err, *force, *cs)
	}
	f, force, cs = newSet("rules test")
	if err := f.parse(nil); err != nil || *force || *cs != "a.osc" {
		t.Errorf("rules test: err %v force %v changesets %q", err, *force, *cs)
	}
	// The command line wins.
	f, force, _ = newSet("fetch")
	if err := f.parse([]string{"--force=false"}); err != nil || *force {
		t.Errorf("fetch --force=false: err %v force %v", err, *force)
	}
	// A command-line-only flag refuses its variable.
	f, force, _ = newSet("restore postgis")
	f.commandLineOnly("force")
	t.Setenv("OSMTRACK_RESTORE_POSTGIS_FORCE", "true")
	if err := f.parse(nil); err == nil || *force || !strings.Contains(err.Error(), "OSMTRACK_RESTORE_POSTGIS_FORCE") {
		t.Errorf("restore postgis with OSMTRACK_RESTORE_POSTGIS_FORCE: err %v force %v", err, *force)
	}
	t.Setenv("OSMTRACK_RESTORE_POSTGIS_FORCE", "")

	// The old flat form is refused with the new name.
	t.Setenv("OSMTRACK_CHANGESETS", "b.osc")
	f, _, _ = newSet("rules test")
	err := f.parse(nil)
	if _, ok := err.(*usageError); !ok || !strings.Contains(err.Error(), "OSMTRACK_CHANGESETS is no longer read: set OSMTRACK_RULES_TEST_CHANGESETS") {
		t.Errorf("flat OSMTRACK_CHANGESETS: %v", err)
	}
	// ... but a configuration variable that happens to match a flag's old name is not.
	t.Setenv("OSMTRACK_CHANGESETS", "")
	t.Setenv("OSMTRACK_CONFIG", "x.yaml")
	f = newFlags("status", "osmtrack status")
	cfg := f.String("config", "", "")
	if err := f.parse(nil); err != nil || *cfg != "" {
		t.Errorf("status with OSMTRACK_CONFIG: err %v config %q", err, *cfg)
	}
}
