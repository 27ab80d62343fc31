-- 030_analyse: what the analyse step adds.

-- OSM API user details, cached per user per day (new_mapper, multiple_blocks).
CREATE TABLE osm_users (
    uid              bigint NOT NULL,
    day              date NOT NULL,
    display_name     text,
    changesets_count integer NOT NULL,
    blocks_received  integer NOT NULL,
    blocks_active    integer NOT NULL,
    account_created  timestamptz,
    fetched_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (uid, day)
);

-- The analyse step's claims: filtered changesets, analysed ones to redo, failed ones to retry.
CREATE INDEX changesets_analyse_claim_idx ON changesets (state, next_attempt_at)
    WHERE state IN ('filtered', 'analysed', 'failed');

-- Why a document is incomplete, for queries without reading the jsonb.
ALTER TABLE analyses ADD COLUMN incomplete text;
