package sim

import (
	"context"
	"testing"
)

// BenchmarkGeneratePlanetMinute: one planet-profile minute (world set-up amortised over b.N minutes).
func BenchmarkGeneratePlanetMinute(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	b.ResetTimer()
	st, err := Generate(context.Background(), Options{Profile: ProfilePlanet, Minutes: b.N, Seed: 1, Out: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.XMLBytesPerMinute.Total)/float64(b.N), "xml-bytes/minute")
	b.ReportMetric(float64(st.ElementsPerMinute.Total)/float64(b.N), "elements/minute")
}
