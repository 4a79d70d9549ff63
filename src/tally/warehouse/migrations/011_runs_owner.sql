-- The process that owns a ledger step (issue 24): a step still `running` whose process has
-- died is marked `abandoned` by the next tally command (tally.pipeline.ledger).
ALTER TABLE tally_meta.runs ADD COLUMN owner_host VARCHAR;
ALTER TABLE tally_meta.runs ADD COLUMN owner_pid INTEGER;
ALTER TABLE tally_meta.runs ADD COLUMN owner_started BIGINT;
