-- A @stores model's stored rows of the keys the stored input's new rows reach, in one read
-- of committed tables (pipeline/incremental.py _stored_aside, run on a second connection
-- beside the build's first steps): the keys of the input's rows in the partitions after
-- the last build, and the keys the stored copies of their events had (a revision may move
-- an event to another key), those copies picked by the probe first, then by the unique
-- key itself (a shared hash never picks a wrong row). Filled in by pipeline_sql: new_rows
-- (a SELECT of the input's new rows), keys (the range's columns), unique (the unique key's
-- columns), table (the model's), probed (the condition on its rows the probe matches) and
-- stored (the condition picking its rows whose keys are among the CTE keys).
WITH new_rows AS MATERIALIZED (
    {new_rows}
),
probed AS MATERIALIZED (
    SELECT {keys}, {unique} FROM {table} WHERE {probed}
),
keys AS (
    SELECT {keys} FROM new_rows
    UNION
    SELECT {keys} FROM probed WHERE ({unique}) IN (SELECT {unique} FROM new_rows)
)
SELECT * FROM {table} WHERE {stored}
