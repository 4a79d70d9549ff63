-- The columns of a table read by row ids (DuckDB) that a model names: DuckDB's COLUMNS
-- with a lambda picks them by name without a catalogue query. Filled in by
-- pipeline_fragment: names (quoted, comma-separated).
COLUMNS(lambda c: list_contains([{names}], c))
