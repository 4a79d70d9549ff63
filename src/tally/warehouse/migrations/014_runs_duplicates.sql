-- Duplicated or revised events a load brought (rows repeating an event key already loaded:
-- docs/metrics.md, "Duplicates and revisions"); NULL for datasets without event ids.
ALTER TABLE tally_meta.runs ADD COLUMN IF NOT EXISTS rows_duplicate BIGINT;
