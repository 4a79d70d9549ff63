-- Subscription MRR: one row per paid or grace-period access period with monthly recurring
-- revenue (MRR), the grain the MRR marts add up.
--   segment_id        the period's segment: its country, platform, plan code, billing
--                     channel, sector and currency (of its price) as one number, a 64-bit
--                     hash of the six (none is ever NULL: staging requires each); the six
--                     are in marts.dim_segment, one row per segment_id (join it to read
--                     them). Six text columns on every one of its millions of rows cost
--                     more than the rest of the row: at 1M subscriptions (6.2M rows)
--                     writing the table took 7.0-7.3 CPU s with them, 4.1-4.2 with one
--                     text (nor is the reporting currency, the same on every row, or the
--                     period's kind stored: the readers take the one from
--                     marts.dim_exchange_rate and need not the other)
--   amount            the period's price: its purchase or renewal (the latest copy, as
--                     staging keeps it); a period no billed row describes (status export,
--                     grace-period notice, the stand-in before the first loaded day) takes
--                     the plan's list price in its country (subscription_list_prices: the
--                     price billed on the plan's latest billed day, the highest if several)
--   billed_days       the length the price pays for (the billed period, before a refund or
--                     a plan change cut it)
--   mrr               the price normalised to a month from the billed length: 28 days or
--                     more is round(days / 30.4375) months (monthly 1, quarterly 3, yearly
--                     12: price / months); whole weeks are price * 52 / 12 per week; any
--                     other length price * 30.4375 / days
--   to_reporting      the reporting-currency factor on the period's first day (the rate is
--                     fixed when the period is billed, as an invoice's is); mrr_reporting
--                     = mrr * to_reporting (NULL without a rate)
--   previous_end, previous_mrr, previous_to_reporting  the same subscription's MRR
--                     period before (contiguous when previous_end = period_start)
--   next_start        the same subscription's next MRR period's start
--   user_prev_end     latest end of the user's earlier MRR periods (any subscription)
--   first_start       the subscription's first MRR period's start (its cohort's first day)
-- Trials have no MRR (ChartMogul's leads; RevenueCat's MRR counts paid subscriptions);
-- a grace period keeps the MRR of the period it renews; billing retry (no access) has
-- none; a partial refund keeps it; periods priced 0 (redemptions, a purchase billed at 0)
-- or paying for no days are not here.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by user (a period
-- reads the user's earlier periods); a changed period moves the MRR marts from its start,
-- or from its end when only its end or its successor changed. Its transactions are read
-- with the filter below as well (the rows it prices, nothing more): DuckDB then finds the
-- keys' rows first and reads only them (0.48 against 0.86 s of CPU for 3,000 users at
-- 200,000 subscriptions), where it read every billed transaction before:
-- @range key user_id
-- @unique subscription_id, period_start
-- @reads staging.viu_premium_transactions_latest WHERE user_id IN {keys} AND type IN ('purchase', 'renewal') AND amount > 0
-- @reads marts.subscription_periods WHERE user_id IN {keys}
-- @reads marts.subscription_list_prices WHERE user_id IN {keys}
-- @every marts.dim_country_offset
-- @moves period_start: user_id, segment_id, amount, billed_days, mrr, to_reporting, mrr_reporting, previous_end, previous_mrr, previous_to_reporting, first_start
-- @moves period_end: period_end
-- next_start and user_prev_end move the marts as mrr_movements (the one date-ranged reader
-- of either) reads them, not from every day they could: a period churns on its end unless
-- its successor starts that day, and a start not continuing the one before is a
-- Reactivation when the user's earlier periods ended by then. So a renewal after a gap
-- (next_start NULL -> a later day) or a user_prev_end still after the start moves nothing
-- (at 1M subscriptions, the bench's last day: 188 such periods moved mrr_movements back
-- ten days, to 2026-12-21; a new reader of these two columns must be checked against the
-- lines, tests/marts/test_incremental.py READER_SHAPED_MOVES):
-- @moves CASE WHEN next_start = period_end THEN period_end END: next_start
-- @moves CASE WHEN user_prev_end <= period_start THEN period_start END: user_prev_end
-- A user's period that starts before the earliest period their changed rows describe (a
-- billed row's start in the country's day, within two days of its UTC day), and whose
-- successor does too, stays as it is: its every column reads only the user's earlier
-- periods, itself and its successor's start (first_start is the first of them). The daily
-- build then reads and compares only the other rows (at 1M subscriptions, of the day's
-- 12,405 users' rows, 13,631 stored instead of 117,817 and 25,855 fresh instead of 130,041;
-- the read costs little less, its rows scattered over every row group, but the comparison
-- does, and the rows that went are deleted by their row ids):
-- @since staging.viu_premium_transactions_latest: CAST(period_start AS DATE) - 2
-- @since marts.subscription_periods: period_start
-- @since marts.subscription_list_prices: period_start
-- @settled period_start < {since} AND next_start < {since}
-- Each period's billed row, in one pass. A period with several billed rows takes the
-- latest, then the lowest transaction id; it almost never has several, so they are not
-- looked for here: every billed row is joined to its period, and the subscription's window
-- below (which sorts its periods anyway) finds two rows of one period side by side. Only
-- those subscriptions are worked again, from their chosen rows (second_pass). Counting the
-- billed rows by period first stored them all and grouped them, for no period billed twice
-- at 1M subscriptions: the model's build took 12.9-13.2 CPU s there, 11.4-11.6 this way
-- (each built alone on a copy of a built warehouse, alternating, load ~2); in its Spark-safe
-- form below, its SELECT alone 10.75-11.70 -> 9.95-11.09 CPU s (benchmarks/
-- model_variants_bench.py, four alternating pairs, three of them less, load 4-7).
-- A business day by arithmetic inside the country's latest stretch without an offset
-- change, converted outside it (marts.dim_country_offset says why and checks it)
WITH billed AS (
    SELECT subscription_id, amount, currency, start_date, end_date - start_date AS billed_days
    FROM (
        -- the columns read below, named (not t.*): the daily build then fetches only these
        -- of the keys' rows (build.named_columns)
        SELECT t.subscription_id, t.amount, t.currency,
            CASE WHEN t.period_start >= z.steady_from AND t.period_start < z.steady_until
                THEN DATE '1970-01-01'
                    + CAST(floor((epoch(t.period_start) + z.utc_offset) / 86400) AS INTEGER)
                ELSE CAST(t.period_start AT TIME ZONE z.timezone AS DATE) END AS start_date,
            CASE WHEN t.period_end >= z.steady_from AND t.period_end < z.steady_until
                THEN DATE '1970-01-01'
                    + CAST(floor((epoch(t.period_end) + z.utc_offset) / 86400) AS INTEGER)
                ELSE CAST(t.period_end AT TIME ZONE z.timezone AS DATE) END AS end_date
        FROM staging.viu_premium_transactions_latest AS t
        JOIN marts.dim_country_offset AS z ON z.code = t.country
        WHERE t.type IN ('purchase', 'renewal') AND t.amount > 0
    ) AS dated
),
priced AS (
    SELECT p.subscription_id, p.user_id, p.country, p.platform, p.plan_code, p.channel,
        p.channel_sector, p.kind, p.period_start, p.period_end,
        coalesce(b.amount, l.amount) AS amount,
        coalesce(b.currency, l.currency) AS currency,
        coalesce(b.billed_days, l.billed_days) AS billed_days
    FROM marts.subscription_periods AS p
    LEFT JOIN billed AS b
        ON b.subscription_id = p.subscription_id AND b.start_date = p.period_start
        AND p.kind = 'paid'
    LEFT JOIN marts.subscription_list_prices AS l
        ON l.subscription_id = p.subscription_id AND l.period_start = p.period_start
    WHERE p.kind IN ('paid', 'grace') AND p.period_end > p.period_start
),
-- a length of 0 days or less (a billed row ending at its start) is not priced; its period
-- is kept until the second pass, so a row like it billed beside another is seen there
normalised AS (
    SELECT *,
        CASE
            WHEN billed_days <= 0 THEN NULL
            WHEN billed_days >= 28
                THEN amount / greatest(1, round(CAST(billed_days AS DOUBLE) / 30.4375))
            WHEN billed_days % 7 = 0 THEN amount * 52 / 12 / (billed_days / 7)
            ELSE amount * 30.4375 / billed_days
        END AS list_mrr
    FROM priced
    WHERE amount > 0 AND billed_days IS NOT NULL
),
-- the factor of the period's first day: rates by day, joined on equality (a hash join;
-- the stretches' range join sorted every period), the day clamped into the days listed
-- (tally/models/rates.py)
rate_days AS (
    SELECT min(day) AS first_day, max(day) AS last_day FROM marts.dim_exchange_rate_day
),
converted AS (
    SELECT n.subscription_id, n.user_id,
        hash(n.country, n.platform, n.plan_code, n.channel, n.channel_sector, n.currency)
            AS segment_id,
        n.kind = 'grace' AS grace, n.period_start, n.period_end, n.amount, n.billed_days,
        n.currency, n.list_mrr, x.to_reporting
    FROM normalised AS n
    CROSS JOIN rate_days AS d
    LEFT JOIN marts.dim_exchange_rate_day AS x
        ON x.currency = n.currency
        AND x.day = least(greatest(n.period_start, d.first_day), d.last_day)
),
-- the subscription's neighbours, in one pass (one sort) over its periods; a grace period
-- keeps the MRR of the period it follows (so does the period after it, as its previous).
-- The sort carries every column of the row, so the period's kind comes as a boolean, not
-- its text (at 1M subscriptions the window cost ~0.35 CPU s less)
first_pass AS (
    SELECT *,
        CASE WHEN grace
            THEN coalesce(lag(list_mrr) OVER subscription_order, list_mrr)
            ELSE list_mrr END AS mrr,
        lag(period_end) OVER subscription_order AS previous_end,
        CASE WHEN lag(grace) OVER subscription_order
            THEN coalesce(lag(list_mrr, 2) OVER subscription_order,
                lag(list_mrr) OVER subscription_order)
            ELSE lag(list_mrr) OVER subscription_order END AS previous_mrr,
        lag(to_reporting) OVER subscription_order AS previous_to_reporting,
        lead(period_start) OVER subscription_order AS next_start,
        first_value(period_start) OVER subscription_order AS first_start
    FROM converted
    WINDOW subscription_order AS (PARTITION BY subscription_id ORDER BY period_start)
),
-- the subscriptions worked again: a period billed twice (the next period starts the same
-- day: next_start tells, where a lag of the start was one more function for the window),
-- or a length not priced. None at 1M, so DuckDB skips the second pass (a join whose one
-- side is empty reads not the other)
twice AS (
    SELECT DISTINCT subscription_id FROM first_pass
    WHERE next_start = period_start OR list_mrr IS NULL
),
chosen AS (
    SELECT t.subscription_id, t.amount, t.currency,
        CAST(t.period_start AT TIME ZONE z.timezone AS DATE) AS start_date,
        CAST(t.period_end AT TIME ZONE z.timezone AS DATE)
            - CAST(t.period_start AT TIME ZONE z.timezone AS DATE) AS billed_days
    FROM staging.viu_premium_transactions_latest AS t
    JOIN marts.dim_country AS z ON z.code = t.country
    WHERE t.type IN ('purchase', 'renewal') AND t.amount > 0
        AND t.subscription_id IN (SELECT subscription_id FROM twice)
    QUALIFY row_number() OVER (
        PARTITION BY t.subscription_id, start_date
        ORDER BY t.transaction_time DESC, t.transaction_id
    ) = 1
),
-- their periods again, each with the billed row chosen (the same amount, currency and
-- length: two rows saying the same are one); the condition reads the chosen row in each
-- branch, so DuckDB cannot move it below the join and read every period first
second_input AS (
    SELECT DISTINCT f.subscription_id, f.user_id, f.segment_id, f.grace, f.period_start,
        f.period_end, f.amount, f.billed_days, f.currency, f.list_mrr, f.to_reporting
    FROM first_pass AS f
    LEFT JOIN chosen AS c
        ON c.subscription_id = f.subscription_id AND c.start_date = f.period_start
    WHERE f.subscription_id IN (SELECT subscription_id FROM twice)
        AND CASE WHEN f.list_mrr IS NULL THEN false
            WHEN c.subscription_id IS NULL OR f.grace THEN true
            ELSE c.amount = f.amount AND c.currency = f.currency
                AND c.billed_days = f.billed_days END
),
-- the same neighbours as first_pass, over those periods
second_pass AS (
    SELECT *,
        CASE WHEN grace
            THEN coalesce(lag(list_mrr) OVER subscription_order, list_mrr)
            ELSE list_mrr END AS mrr,
        lag(period_end) OVER subscription_order AS previous_end,
        CASE WHEN lag(grace) OVER subscription_order
            THEN coalesce(lag(list_mrr, 2) OVER subscription_order,
                lag(list_mrr) OVER subscription_order)
            ELSE lag(list_mrr) OVER subscription_order END AS previous_mrr,
        lag(to_reporting) OVER subscription_order AS previous_to_reporting,
        lead(period_start) OVER subscription_order AS next_start,
        first_value(period_start) OVER subscription_order AS first_start
    FROM second_input
    WINDOW subscription_order AS (PARTITION BY subscription_id ORDER BY period_start)
),
-- a user's earlier MRR periods: within one subscription they end in order (a period ends
-- before the next begins), so only users with several subscriptions need the user's window.
-- The users are counted on each subscription's first period of the first pass (one row
-- per subscription: a grouping of ~0.8M rows, not a distinct count over 6.2M; a
-- subscription counted twice there, or left with no period by the second pass, only sends
-- its user through the window, which gives such a user the same). The rows kept (the first
-- pass's, the second's for the subscriptions worked again) are split by user: the other
-- users' rows pass by (alone) and the window's carry the whole row (together), stacked
-- after them; joining the window's result back to every row cost ~0.3 CPU s more at 1M.
-- The two passes meet once, in kept, before the split: with each half a union of both
-- passes of its own, Spark could not plan the stack (its optimizer rule
-- RemoveRedundantAliases left the plan unresolved, PLAN_VALIDATION_FAILED_RULE_IN_BATCH)
several AS (
    SELECT user_id FROM first_pass
    WHERE period_start = first_start AND user_id IS NOT NULL
    GROUP BY user_id HAVING count(*) > 1
),
kept AS (
    SELECT * FROM first_pass
    WHERE subscription_id NOT IN (SELECT subscription_id FROM twice)
    UNION ALL
    SELECT * FROM second_pass
),
alone AS (
    SELECT * FROM kept
    WHERE user_id IS NULL OR user_id NOT IN (SELECT user_id FROM several)
),
together AS (
    SELECT * FROM kept
    WHERE user_id IN (SELECT user_id FROM several)
),
stacked AS (
    SELECT *, previous_end AS user_prev_end FROM alone
    UNION ALL
    SELECT *,
        max(period_end) OVER (
            PARTITION BY user_id ORDER BY period_start, subscription_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS user_prev_end
    FROM together
)
SELECT
    n.subscription_id, n.user_id, n.segment_id, n.period_start, n.period_end,
    CAST(n.amount AS DOUBLE) AS amount, CAST(n.billed_days AS INTEGER) AS billed_days,
    CAST(n.mrr AS DOUBLE) AS mrr,
    CAST(n.to_reporting AS DOUBLE) AS to_reporting,
    CAST(n.mrr * n.to_reporting AS DOUBLE) AS mrr_reporting,
    n.previous_end,
    CAST(n.previous_mrr AS DOUBLE) AS previous_mrr,
    CAST(n.previous_to_reporting AS DOUBLE) AS previous_to_reporting,
    n.next_start, n.user_prev_end, n.first_start
FROM stacked AS n
