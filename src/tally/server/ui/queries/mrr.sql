-- (period start, MRR, ARR or a movement of MRR, converted value) of the subscription fact
-- (server/ui/subscription_analytics.py mrr_panels). Filled in: where.
SELECT start_date, type, sum(value)
FROM marts.subscription_fact
WHERE {where} AND meta_8 = 'Converted' AND (type LIKE '% MRR' OR type IN ('MRR', 'ARR'))
GROUP BY 1, 2
