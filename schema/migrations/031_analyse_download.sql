-- 031_analyse_download: the analyse step's changeset downloads.

-- When the element store holds fewer of a closed changeset's versions than its changes_count,
-- analyse downloads the changeset once (GET /api/0.6/changeset/ID/download). The outcome is
-- kept so that it is never asked again: the HTTP status (200, or 404/410 when the API does not
-- have it) and when.
ALTER TABLE changesets ADD COLUMN download_at timestamptz;
ALTER TABLE changesets ADD COLUMN download_status integer;
