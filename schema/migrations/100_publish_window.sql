-- 100_publish_window: an incremental publish reads only the changesets that changed since its
-- previous snapshot: those whose changesets.updated_at (changesets_updated_idx) or whose
-- analysis's analysed_at is newer. This index finds the second kind without reading every
-- analysis.
CREATE INDEX analyses_analysed_idx ON analyses (analysed_at);
