-- 001_core: the tables every step shares. Later migrations add to them; they never edit this file.

CREATE EXTENSION IF NOT EXISTS postgis;

-- One row per replication pointer: 'minute' is the live minutely pointer, 'changesets' the
-- changeset replication pointer; a backfill keeps its own name.
CREATE TABLE replication_state (
    name          text PRIMARY KEY,
    feed          text NOT NULL DEFAULT 'minute' CHECK (feed IN ('minute', 'changesets')),
    seq           bigint NOT NULL,
    seq_timestamp timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per minutely diff applied, whichever pointer applied it. A hole in seq is a gap.
CREATE TABLE diffs (
    seq            bigint PRIMARY KEY,
    seq_timestamp  timestamptz NOT NULL,
    bytes          bigint NOT NULL,
    elements       integer NOT NULL,
    elements_kept  integer NOT NULL,
    changesets     integer NOT NULL,
    processing_ms  integer NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now()
);

-- The element store: versions of elements, the "before" state analysis reads.
-- type: 'n' node, 'w' way, 'r' relation. members: [{"type":"n","ref":1,"role":""}].
CREATE TABLE elements (
    type       "char" NOT NULL CHECK (type IN ('n', 'w', 'r')),
    id         bigint NOT NULL,
    version    integer NOT NULL,
    changeset  bigint NOT NULL,
    ts         timestamptz NOT NULL,
    uid        bigint,
    username   text,
    visible    boolean NOT NULL,
    action     text CHECK (action IN ('create', 'modify', 'delete')),
    tags       jsonb NOT NULL DEFAULT '{}',
    geom       geometry(Point, 4326),
    nodes      bigint[],
    members    jsonb,
    seq        bigint,
    PRIMARY KEY (type, id, version)
);
CREATE INDEX elements_changeset_idx ON elements (changeset);
CREATE INDEX elements_ts_idx ON elements (ts);

-- A changeset: metadata from the changeset feed (or the API), edit summary from the diffs,
-- and its place in the pipeline.
--   state: new (waiting for filter) -> filtered (goes to analysis) | dropped
--          filtered -> analysed (open, or closed but analysed before closing) -> done (closed, analysed after closing)
--          any -> failed (analysis failed; retried up to a limit with backoff; stays visible)
--   New elements arriving for a changeset set it back to 'new' so it is filtered again.
CREATE TABLE changesets (
    id              bigint PRIMARY KEY,
    username        text,
    uid             bigint,
    created_at      timestamptz,
    closed_at       timestamptz,
    open            boolean,
    comments_count  integer,
    changes_count   integer,
    tags            jsonb NOT NULL DEFAULT '{}',
    bbox            geometry(Polygon, 4326),
    meta_seq        bigint,
    meta_updated_at timestamptz,
    first_seq       bigint,
    last_seq        bigint,
    num_create      integer NOT NULL DEFAULT 0,
    num_modify      integer NOT NULL DEFAULT 0,
    num_delete      integer NOT NULL DEFAULT 0,
    edit_extent     geometry(Geometry, 4326),
    tracked         boolean NOT NULL DEFAULT false,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'new'
                    CHECK (state IN ('new', 'filtered', 'dropped', 'analysed', 'done', 'failed')),
    state_reason    text,
    filtered_at     timestamptz,
    analysed_at     timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    error           text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX changesets_state_idx ON changesets (state);
CREATE INDEX changesets_bbox_idx ON changesets USING gist (bbox);
CREATE INDEX changesets_created_idx ON changesets (created_at);

-- Labels with the evidence that explains each one. source: 'filter' or 'analyse'.
CREATE TABLE changeset_labels (
    changeset_id bigint NOT NULL REFERENCES changesets (id) ON DELETE CASCADE,
    label        text NOT NULL,
    source       text NOT NULL CHECK (source IN ('filter', 'analyse')),
    evidence     jsonb NOT NULL,
    PRIMARY KEY (changeset_id, label)
);
CREATE INDEX changeset_labels_label_idx ON changeset_labels (label);

-- The analysis document of a changeset (schema/analysis.schema.json), with columns for queries.
CREATE TABLE analyses (
    changeset_id   bigint PRIMARY KEY REFERENCES changesets (id) ON DELETE CASCADE,
    schema_version integer NOT NULL,
    doc            jsonb NOT NULL,
    complete       boolean NOT NULL,
    reasons        text[] NOT NULL DEFAULT '{}',
    geom           geometry(Geometry, 4326),
    analysed_seq   bigint,
    analysed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analyses_geom_idx ON analyses USING gist (geom);
CREATE INDEX analyses_analysed_at_idx ON analyses (analysed_at);

-- Every run of every step, for `osmtrack status` and the site's status page.
CREATE TABLE job_runs (
    run_id      text PRIMARY KEY,
    job         text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    outcome     text NOT NULL CHECK (outcome IN ('running', 'ok', 'failed', 'skipped', 'interrupted')),
    items       integer NOT NULL DEFAULT 0,
    errors      integer NOT NULL DEFAULT 0,
    message     text
);
CREATE INDEX job_runs_job_idx ON job_runs (job, started_at DESC);
