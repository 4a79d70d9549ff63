-- The stand-in build.narrowed puts in a model's text for each reference to a narrowed
-- input, filled with the input's SELECT once per build (pipeline/build.py _stand_in).
-- It must stay as sqlglot writes a SELECT * subquery (_narrowing_written builds the same
-- one as a tree). Filled in by pipeline_fragment: number (the input's place).
(SELECT * FROM __narrowed_{number}__)
