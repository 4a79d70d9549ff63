-- Not a model (the leading underscore): models/rates.py reads the newest snapshot of the
-- exchange-rate sheet with it, a day and currency listed twice in the order of the sheet
-- (the lower row wins).
SELECT date, currency, per_usd
FROM staging.google_drive_exchange_rates
WHERE _partition_date = (SELECT max(_partition_date) FROM staging.google_drive_exchange_rates)
ORDER BY currency, date, _line
