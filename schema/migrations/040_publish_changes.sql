-- 040_publish_changes: let publish find what changed since its last run.
-- publish is incremental: it re-renders the changesets whose changesets.updated_at is newer than
-- its previous snapshot (minus an overlap). These triggers keep updated_at honest whatever step
-- writes: any UPDATE of a changeset row, and any change to its labels, bumps it.

CREATE OR REPLACE FUNCTION osmtrack_touch_changeset() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END$$;

CREATE TRIGGER changesets_touch BEFORE UPDATE ON changesets
    FOR EACH ROW EXECUTE FUNCTION osmtrack_touch_changeset();

CREATE OR REPLACE FUNCTION osmtrack_touch_labelled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE changesets c SET updated_at = now()
         WHERE c.id IN (SELECT DISTINCT changeset_id FROM new_rows) AND c.updated_at < now();
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE changesets c SET updated_at = now()
         WHERE c.id IN (SELECT DISTINCT changeset_id FROM old_rows) AND c.updated_at < now();
    END IF;
    RETURN NULL;
END$$;

CREATE TRIGGER changeset_labels_touch_ins AFTER INSERT ON changeset_labels
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION osmtrack_touch_labelled();
CREATE TRIGGER changeset_labels_touch_upd AFTER UPDATE ON changeset_labels
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION osmtrack_touch_labelled();
CREATE TRIGGER changeset_labels_touch_del AFTER DELETE ON changeset_labels
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION osmtrack_touch_labelled();

CREATE INDEX changesets_updated_idx ON changesets (updated_at);
