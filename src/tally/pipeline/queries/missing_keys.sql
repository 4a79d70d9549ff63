-- The keys a reader of a shared input asks for that are not kept yet
-- (pipeline/shared_reads.py): their rows are fetched and added before it reads. Filled in
-- by pipeline_sql: column (the key's), keys (the reader's keys table), kept (the keys kept).
SELECT {column} FROM {keys}
EXCEPT
SELECT {column} FROM {kept}
