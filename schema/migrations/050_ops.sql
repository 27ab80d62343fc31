-- 050_ops: indexes for `osmtrack prune`, which deletes by age in small batches.

-- A changeset's age for retention: when it closed, else when it was created, else first seen.
CREATE INDEX changesets_prune_idx ON changesets ((coalesce(closed_at, created_at, first_seen)));
CREATE INDEX diffs_seq_timestamp_idx ON diffs (seq_timestamp);
CREATE INDEX job_runs_started_idx ON job_runs (started_at);
