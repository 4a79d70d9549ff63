-- The extension's "described" step (not a model: pipeline/extension.py extended_sql): the
-- new described rows, and each stored latest period as the described row it came from.
-- Filled in by step_fragment: carried (_carried_periods.sql).
SELECT * FROM new_described UNION ALL ({carried})
