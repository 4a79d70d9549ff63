-- A running step's heartbeat (issue 24): on a warehouse that processes on several hosts
-- share, a step refreshes heartbeat_at while it runs, and a step of another host whose
-- heartbeat has stopped is marked `abandoned` (tally.pipeline.ledger).
ALTER TABLE tally_meta.runs ADD COLUMN heartbeat_at TIMESTAMP;
