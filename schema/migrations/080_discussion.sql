-- 080_discussion: the changeset discussion (who, when, what), which the replication feed does
-- not carry. analyse reads it from the OSM API (changeset/ID?include_discussion=true) for
-- changesets with comments and replaces the rows; publish shows it and marks a changeset
-- reviewed when one of publish.reviewers commented. The rows go with their changeset (prune).
CREATE TABLE changeset_comments (
    changeset_id bigint NOT NULL REFERENCES changesets (id) ON DELETE CASCADE,
    idx          integer NOT NULL,
    uid          bigint,
    username     text,
    created_at   timestamptz NOT NULL,
    text         text NOT NULL,
    PRIMARY KEY (changeset_id, idx)
);
