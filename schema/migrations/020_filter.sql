-- 020_filter: what the filter step needs beyond 001_core.

-- The filter claims waiting changesets in id order (FOR UPDATE SKIP LOCKED); this keeps that
-- cheap however many changesets are past 'new'.
CREATE INDEX changesets_new_idx ON changesets (id) WHERE state = 'new';
