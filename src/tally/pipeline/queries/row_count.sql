-- A scalar subquery: how many rows a table holds. Filled in by pipeline_fragment: rows
-- (a table). Several side by side in one SELECT count many tables in one statement.
(SELECT count(*) FROM {rows})
