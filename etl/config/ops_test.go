package config

import (
	"strings"
	"testing"
	"time"
)

func TestOpsSection(t *testing.T) {
	c, err := Parse([]byte("status:\n  max_lag: 20m\n  intervals:\n    publish: 0s\n    prune: 26h\n  failed_limit: 5\nbackup:\n  dir: backups\n"), "/etc/osmtrack/osmtrack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	iv := c.StatusIntervals()
	if iv["publish"] != 0 || iv["prune"].D() != 26*time.Hour || iv["fetch"].D() != 5*time.Minute || iv["analyse"].D() != 10*time.Minute {
		t.Errorf("intervals = %v", iv)
	}
	if c.Status.MaxLag.D() != 20*time.Minute || c.Status.FailedLimit != 5 || c.Backup.Dir != "/etc/osmtrack/backups" {
		t.Errorf("status %+v backup %+v", c.Status, c.Backup)
	}
	for _, tc := range []struct{ yaml, key string }{
		{"status:\n  intervals:\n    fetch: -1m\n", "status.intervals.fetch"},
		{"status:\n  failed_limit: 0\n", "status.failed_limit"},
		{"prune:\n  changesets: 10d\n", "prune.changesets"},
		{"prune:\n  diffs: 0s\n", "prune.diffs"},
		{"backup:\n  weekly: -1\n", "backup"},
	} {
		_, err := Parse([]byte(tc.yaml), "x.yaml")
		if err == nil || !strings.Contains(err.Error(), "key "+tc.key+":") {
			t.Errorf("%q: %v, want an error on %s", tc.yaml, err, tc.key)
		}
	}
}
