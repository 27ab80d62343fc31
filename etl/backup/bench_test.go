package backup

import (
	"context"
	"testing"

	"github.com/osmtrack/osmtrack/etl/dbtest"
)

// BenchmarkBackupPostGIS: pg_dump of the fillPostGIS data set with its manifest.
func BenchmarkBackupPostGIS(b *testing.B) {
	db := dbtest.PG(b)
	fillPostGIS(b, db.Pool)
	ctx := context.Background()
	dir := b.TempDir()
	for b.Loop() {
		if _, _, err := PostGIS(ctx, dir, PostGISOptions{URL: db.URL}); err != nil {
			b.Fatal(err)
		}
	}
}
