// Package schema holds osmtrack's PostGIS migrations and the JSON Schema of the analysis
// document, embedded so that the one binary carries them.
package schema

import "embed"

// Migrations holds the SQL migrations, applied in the order of their numeric prefix.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// AnalysisJSONSchema is the JSON Schema of the analysis document (schema/analysis.schema.json).
//
//go:embed analysis.schema.json
var AnalysisJSONSchema []byte
