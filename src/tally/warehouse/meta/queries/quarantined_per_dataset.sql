-- (source, dataset or '', quarantined rows) over the whole table
-- (quarantine.rows_per_dataset)
SELECT source, coalesce(dataset, ''), count(*)
FROM tally_meta.quarantine
GROUP BY 1, 2
