-- Unified subscription periods across platforms (iOS IAP, Android IAP, Telco, Redemption, ...).
-- One row per access period of a subscription, from the viu-premium transactions (billed
-- periods, trials, grace-period notices, refunds) and the subscriber-status export (periods
-- no transaction describes: redemptions, and periods begun before the first loaded day).
-- All dates are business days in the subscriber's country (time zone from marts.dim_country):
--   period_start  first day with access
--   period_end    first day without access (exclusive); a refund that ends access (a full
--                 one, or one the source says cut access) ends it on its day; a plan
--                 change taking effect at once ends it on the change's day
--   paying_from   first day the period was paid; later than period_start when the store only
--                 recovered the renewal during the grace period (those days are Grace period)
--   kind          'trial', 'paid' or 'grace' (a grace-period notice not yet paid)
-- Where several rows describe one period (same subscription and start day), a billed
-- transaction wins over a grace-period notice, which wins over the status export (the
-- latest expiry, then the latest snapshot: a period the export restates in place, same
-- start and expiry with another plan or country, is as the newest day has it);
-- two rows of the same rank and time (two purchases of one period at one moment) are
-- ordered by what they say (latest end first, then plan, product, ...), so the choice never
-- depends on the order the rows were read in (the daily build reads them in another).
-- The window columns say how a period links to its neighbours:
--   spell_start   no access the day before (the subscription's first period, or a gap)
-- (Whether access stops at period_end, no next period starting that day, is not stored:
-- its reader works it out, subscriber_daily.sql. Stored, it would change with the next
-- period's arrival, and each day's renewals would rewrite the periods they renew.)
--   user_prev_end end of the user's earlier periods (NULL: the user's first ever start)
-- The last five columns say which row described the period, so the daily build can extend
-- a subscription's latest period from a new day's rows alone (pipeline/extension.py):
--   source_rank   1 billed transaction, 2 grace-period notice, 3 status export, NULL stand-in
--   source_time   that row's transaction time (status export: its expiry time)
--   billed_end    the period's end as billed, before a refund cut it
--   paid_on       that row's day (status export: its period's start)
--   continues     the row renews an earlier period (a renewal, a grace notice)
--   _user_hash    hash(user_id): a keyed read of the periods of some users (the daily
--                 build's readers, pipeline/build.py keyed_rows) finds their rows by this one
--                 number per row, then by user_id among the rows it picked (at 1M
--                 subscriptions, 6.6M rows: ~0.3 -> ~0.04 CPU s to find the day's users');
--                 the rows found are scattered over the table, so their fetch decodes every
--                 block of each column it reads: the two ids are stored uncompressed
--                 (DuckDB; at 1M subscriptions each id's fetch 0.11-0.13 -> 0.06 CPU s)
-- A renewal whose earlier period ended before the first loaded day gets a one-day stand-in
-- period the day before it (see "stand_ins" below), so it is not mistaken for a new start.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   by user (a period reads the user's earlier periods), through its own fast path
--   (pipeline/extension.py); the status export restates every subscription each day. A
--   changed period moves the marts from the first day of subscriber_daily's events (the
--   one date-ranged reader: a new one must hold to these lines too) its changed columns
--   can change (every column but the key is in one line). A period has events on its
--   start only as a spell start or a trial (else its row there counts zeros, which add
--   nothing), on paying_from only when paid, and on its end; a period that came or went
--   (the first line: its key never differs in a changed one) moves from its start, where
--   it decides whether the period before churned. So a grace period paid later (kind
--   'grace' -> 'paid', paying_from its start -> the day paid) moves from the day paid,
--   not its start (the 1M bench's last day: 191 such periods moved the daily marts back
--   to 2026-12-26; now 2 spell starts whose user_prev_end grew move them from 12-29):
-- @range key user_id
-- @unique subscription_id, period_start
-- @reads staging.viu_premium_transactions_latest WHERE user_id IN {keys}
-- @reads staging.viu_premium_subscriber_status WHERE user_id IN {keys}
-- @snapshot staging.viu_premium_subscriber_status
-- @lookup _user_hash = hash(user_id)
-- @uncompressed subscription_id, user_id
-- @moves period_start: subscription_id, period_start
-- @moves CASE WHEN spell_start OR kind = 'trial' THEN period_start WHEN kind = 'paid' THEN paying_from ELSE period_end END: user_id, country, platform, plan_code, product_id, channel, channel_sector, kind, spell_start, user_prev_end, source_rank, source_time
-- @moves CASE WHEN kind = 'paid' THEN paying_from ELSE period_end END: paying_from, previous_kind, previous_plan_code, paid_on, continues
-- @moves period_end: period_end, billed_end
-- @moves refunded_on: refunded_on
WITH transactions AS (
    SELECT
        t.*,
        CAST(t.transaction_time AT TIME ZONE z.timezone AS DATE) AS transaction_date,
        CAST(t.period_start AT TIME ZONE z.timezone AS DATE) AS start_date,
        CAST(t.period_end AT TIME ZONE z.timezone AS DATE) AS end_date
    FROM staging.viu_premium_transactions_latest AS t
    JOIN marts.dim_country AS z ON z.code = t.country
),
described AS (
    SELECT
        subscription_id, user_id, country, platform, plan_code, product_id, channel,
        channel_sector,
        CASE type WHEN 'trial_start' THEN 'trial' WHEN 'grace_period_start' THEN 'grace'
            ELSE 'paid' END AS kind,
        start_date, end_date, transaction_date AS paid_on,
        CASE WHEN type = 'grace_period_start' THEN 2 ELSE 1 END AS priority,
        transaction_time AS seen_at,
        type IN ('renewal', 'grace_period_start') AS continues,
        CAST(NULL AS DATE) AS snapshot_day
    FROM transactions
    WHERE type IN ('trial_start', 'purchase', 'renewal', 'grace_period_start')
    UNION ALL
    SELECT
        s.subscription_id, s.user_id, s.country, s.platform, s.plan_code, s.product_id,
        s.channel, s.channel_sector,
        CASE WHEN s.status = 'grace_period' THEN 'grace'
            WHEN s.payment_status = 'free_trial' THEN 'trial' ELSE 'paid' END AS kind,
        CAST(s.current_period_start AT TIME ZONE z.timezone AS DATE) AS start_date,
        CAST(s.expiry_time AT TIME ZONE z.timezone AS DATE) AS end_date,
        CAST(s.current_period_start AT TIME ZONE z.timezone AS DATE) AS paid_on,
        3 AS priority,
        s.expiry_time AS seen_at,
        s.current_period_start > s.start_time AS continues,
        s._partition_date AS snapshot_day
    FROM staging.viu_premium_subscriber_status AS s
    JOIN marts.dim_country AS z ON z.code = s.country
),
-- a plan change (upgrade, downgrade, crossgrade) that takes effect at once is a period of
-- the same subscription starting before the one it replaces ends: the old period closes
-- on the change's day (closed_end), so a subscription is never active twice
chosen AS (
    SELECT *,
        least(end_date, coalesce(lead(start_date) OVER (
            PARTITION BY subscription_id ORDER BY start_date
        ), end_date)) AS closed_end
    FROM (
        SELECT *
        FROM described
        QUALIFY row_number() OVER (
            PARTITION BY subscription_id, start_date ORDER BY priority, seen_at DESC,
                snapshot_day DESC NULLS LAST, end_date DESC, paid_on DESC, plan_code,
                product_id, kind, continues, country,
                platform, channel, channel_sector, user_id
        ) = 1
    ) AS one_row_per_period
),
-- only refunds that end access cut a period (a partial refund keeps it)
refunds AS (
    SELECT subscription_id, start_date, min(transaction_date) AS refunded_on
    FROM transactions
    WHERE type = 'refund' AND ends_access
    GROUP BY subscription_id, start_date
),
known AS (
    SELECT
        c.subscription_id, c.user_id, c.country, c.platform, c.plan_code, c.product_id,
        c.channel, c.channel_sector, c.kind,
        c.start_date AS period_start,
        CASE WHEN r.refunded_on IS NOT NULL AND r.refunded_on < c.closed_end
            THEN greatest(r.refunded_on, c.start_date) ELSE c.closed_end END AS period_end,
        r.refunded_on,
        c.paid_on,
        c.priority AS source_rank,
        c.seen_at AS source_time,
        c.end_date AS billed_end,
        c.continues
    FROM chosen AS c
    LEFT JOIN refunds AS r
        ON r.subscription_id = c.subscription_id AND r.start_date = c.start_date
),
first_known AS (
    SELECT *
    FROM known
    QUALIFY row_number() OVER (PARTITION BY subscription_id ORDER BY period_start) = 1
),
-- a renewal whose earlier period was never loaded (it ended before the first loaded day):
-- the subscriber had access the day before, so a one-day stand-in keeps the renewal from
-- counting as a new start and the day-before count right
stand_ins AS (
    SELECT subscription_id, user_id, country, platform, plan_code, product_id, channel,
        channel_sector, 'paid' AS kind, period_start - 1 AS period_start,
        period_start AS period_end, CAST(NULL AS DATE) AS refunded_on,
        period_start - 1 AS paid_on, CAST(NULL AS INTEGER) AS source_rank,
        CAST(NULL AS TIMESTAMPTZ) AS source_time, period_start AS billed_end,
        CAST(NULL AS BOOLEAN) AS continues
    FROM first_known
    WHERE continues
),
periods AS (
    SELECT subscription_id, user_id, country, platform, plan_code, product_id, channel,
        channel_sector, kind, period_start, period_end, refunded_on, paid_on, source_rank,
        source_time, billed_end, continues
    FROM known
    UNION ALL
    SELECT * FROM stand_ins
)
SELECT
    p.subscription_id, p.user_id, p.country, p.platform, p.plan_code, p.product_id, p.channel,
    p.channel_sector, p.kind, p.period_start, p.period_end, p.refunded_on,
    CASE WHEN p.kind = 'paid' THEN least(greatest(p.paid_on, p.period_start), p.period_end)
        ELSE p.period_start END AS paying_from,
    lag(p.kind) OVER subscription_order AS previous_kind,
    lag(p.plan_code) OVER subscription_order AS previous_plan_code,
    coalesce(max(p.period_end) OVER (
        PARTITION BY p.subscription_id ORDER BY p.period_start
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ), p.period_start - 1) < p.period_start AS spell_start,
    max(p.period_end) OVER (
        PARTITION BY p.user_id ORDER BY p.period_start, p.subscription_id
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS user_prev_end,
    p.source_rank, p.source_time, p.billed_end, p.paid_on, p.continues,
    hash(p.user_id) AS _user_hash
FROM periods AS p
WINDOW subscription_order AS (PARTITION BY p.subscription_id ORDER BY p.period_start)
-- stored in order of end: the daily build reads and replaces the periods still open near the
-- newest day, which then sit in the last row groups (the others are skipped by their
-- min/max; a delete spread over every row group makes DuckDB rewrite them all on checkpoint)
ORDER BY p.period_end
