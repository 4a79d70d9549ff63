"""The named sets of models the daily-build tests and the marts benchmarks build and compare.

One list each, read by ``tests/marts`` (the property test daily == full, the hand-worked
fixtures) and ``benchmarks/marts_bench.py``; a new viu-premium mart goes in one of them to be
checked daily == full (docs/ARCHITECTURE.md, "How a model declares its range"). Not derived
from the models' inputs: the subscriber marts' closure over the viu-premium tables also
takes in reconciliations that read other sources, and leaves out the cohort and attribution
marts, which read the web and store tables too.
"""

from __future__ import annotations

# the subscriber marts and what they read (one copy of each billing event)
SUBSCRIBER_MODELS = (
    "staging.viu_premium_transactions_latest",
    "marts.subscription_bounds",
    "marts.refund_transactions",
    "marts.subscription_periods",
    "marts.subscription_last_periods",
    "marts.subscription_spans",
    "marts.subscriber_total",
    "marts.subscriber_daily",
    "marts.subscriber_weekly",
    "marts.subscriber_monthly",
    "marts.revenue_daily",
    "marts.report_fact",
)
# issue 23's marts built on them: currencies, MRR, cohorts, LTV, attribution
ANALYTICS_MODELS = (
    "marts.dim_country_offset",
    "marts.revenue_converted",
    "marts.plan_list_prices",
    "marts.subscription_list_prices",
    "marts.subscription_mrr",
    "marts.dim_segment",
    "marts.mrr_movements",
    "marts.mrr_daily",
    "marts.subscription_fact",
    "marts.cohort_members",
    "marts.cohort_retention",
    "marts.cohort_ltv",
    "marts.trial_periods",
    "marts.trial_cohorts",
    "marts.subscription_revenue",
    "marts.subscription_attribution",
    "marts.attribution_channel",
)
