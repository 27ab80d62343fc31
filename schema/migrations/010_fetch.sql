-- 010_fetch: what fetch needs beyond 001_core.

-- One row per (changeset, diff) that kept elements of the changeset: its share of the edits.
-- changesets.first_seq/last_seq/num_*/edit_extent are recomputed from these rows, so applying a
-- diff twice (--force, or a backfill racing the live pointer) leaves the same values.
CREATE TABLE changeset_diffs (
    changeset_id bigint NOT NULL REFERENCES changesets (id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    num_create   integer NOT NULL,
    num_modify   integer NOT NULL,
    num_delete   integer NOT NULL,
    extent       geometry(Polygon, 4326),
    PRIMARY KEY (changeset_id, seq)
);
CREATE INDEX changeset_diffs_seq_idx ON changeset_diffs (seq);
