-- (source, dataset, newest partition, current files) per dataset
-- (lake_files.partitions_per_dataset)
SELECT source, dataset, max(partition_date), count(*)
FROM tally_meta.lake_files
WHERE superseded_by IS NULL
GROUP BY source, dataset
