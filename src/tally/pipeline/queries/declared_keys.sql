-- What {keys} stands for in a model's declared input condition (pipeline/build.py
-- input_rows): the keys of the temporary table the daily build names, as a subquery.
-- Filled in by pipeline_fragment: column (the range's column) and keys (the table).
(SELECT {column} FROM {keys})
