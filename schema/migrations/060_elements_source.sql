-- 060_elements_source: where each element version came from, so evidence can say where a
-- location came from. diff: a minutely diff (fetch); seed: an extract (`osmtrack seed`);
-- api: the OSM API (fetch's API fill, analyse); download: a changeset download (analyse).
-- Rows written before this migration have NULL: etl/elements reads them as diff when seq is
-- set, else api. Adding a nullable column without a default rewrites nothing.
ALTER TABLE elements ADD COLUMN source text CHECK (source IN ('diff', 'seed', 'api', 'download'));
