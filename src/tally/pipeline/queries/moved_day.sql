-- One reader's first moved day (first_moved_day): a row that came moves on its new days,
-- a row that went on its old days, a row that changed (the same unique key on both sides)
-- on the days of the declarations whose columns differ (those the reader reads). Filled in
-- by pipeline_fragment: new and old (the declared days on each side), changed (per
-- declaration, the least of its days when its columns differ).
min(
    CASE
        WHEN o._old IS NULL THEN least({new})
        WHEN n._old IS NULL THEN least({old})
        ELSE least({changed})
    END
)
