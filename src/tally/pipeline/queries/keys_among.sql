-- A semi-join condition: a row's key among the keys some rows give. Filled in by
-- pipeline_fragment: key (a column, an expression, or columns in parentheses), given
-- (the same key over the rows) and rows (a table, or a table and a WHERE).
{key} IN (SELECT {given} FROM {rows})
