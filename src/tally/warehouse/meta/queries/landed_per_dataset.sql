-- (source, dataset or '', newest partition, newest landing) of current files
-- (lake_files.latest_per_dataset)
SELECT source, coalesce(dataset, ''), max(partition_date), max(landed_at)
FROM tally_meta.lake_files
WHERE superseded_by IS NULL
GROUP BY 1, 2
