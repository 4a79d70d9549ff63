"""Properties of the subscriber marts on generated subscribers (DemoWorld, small scale).

For any seed and any window of loaded days:
- weekly and monthly flows are the sums of the daily flows;
- the recurring total equals the point-in-time count of the status export, and the count
  worked out in Python from the simulated periods, on every loaded day;
- at the country and platform level, active(d) = active(d-1) + new + reactivation - churn.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tally.config import load_settings
from tally.sources.demo import DemoWorld
from tally.sources.viu_premium import access_end, grace_days
from tally.warehouse import Warehouse

from .conftest import build_marts, load_world, memory_warehouse

FLOWS = (
    "new_subscribers",
    "reactivations",
    "free_trials",
    "renewals",
    "trial_conversions",
    "trials_ended",
    "plan_changes",
    "churn",
    "refunds",
)
# a failing example is clear enough; shrinking whole builds would take minutes
NO_SHRINK = [Phase.explicit, Phase.generate]
KEY = "country, platform, plan_code, channel, channel_sector, payment_status"

windows = st.tuples(
    st.integers(min_value=1, max_value=10_000),  # seed
    st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 12, 1)),  # first day
    st.integers(min_value=10, max_value=30),  # loaded days
)


def built(seed: int, first: dt.date, count: int, tmp_path_factory) -> tuple[Warehouse, DemoWorld]:
    days = [first + dt.timedelta(days=n) for n in range(count)]
    world = DemoWorld(seed, first, days[-1], scale=0.05)
    warehouse = memory_warehouse()
    load_world(warehouse, world, days)
    build_marts(warehouse, load_settings(environ={}), tmp_path_factory.mktemp("lake"))
    return warehouse, world


def python_point_in_time(world: DemoWorld, day: dt.date) -> Counter:
    """Active subscriptions at the end of ``day`` by (country, platform, payment status)."""
    counts: Counter = Counter()
    for subscription in world.subscriptions:
        for period in subscription.periods:
            if not period.start <= day < access_end(period):
                continue
            status = "Free trial" if period.kind == "trial" else "Paying"
            grace = dt.timedelta(days=grace_days(subscription, period))
            if period.grace and day < period.start + grace:
                status = "Grace period"
            counts[(subscription.country, subscription.plan.platform, status)] += 1
    return counts


@settings(
    max_examples=3,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(window=windows)
def test_period_flows_are_sums_of_daily_flows(window, tmp_path_factory) -> None:
    warehouse, _ = built(*window, tmp_path_factory)
    for resolution in ("week", "month"):
        sums = ", ".join(f"sum({flow})" for flow in FLOWS)
        daily = warehouse.rows(
            f"SELECT CAST(date_trunc('{resolution}', day) AS DATE), {KEY}, {sums} "
            f"FROM marts.subscriber_daily GROUP BY ALL"
        )
        period = warehouse.rows(
            f"SELECT period_start, {KEY}, {', '.join(FLOWS)} FROM marts.subscriber_{resolution}ly"
        )
        assert sorted(daily) == sorted(period)
        assert len(period) > 0


@settings(
    max_examples=3,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(window=windows)
def test_recurring_total_equals_point_in_time_counts(window, tmp_path_factory) -> None:
    warehouse, world = built(*window, tmp_path_factory)
    recurring = warehouse.rows(
        "SELECT day, country, platform, payment_status, sum(active) FROM marts.subscriber_total "
        "GROUP BY ALL HAVING sum(active) <> 0"
    )
    exported = warehouse.rows(
        "SELECT _partition_date, country, platform, CASE WHEN status = 'grace_period' "
        "THEN 'Grace period' WHEN payment_status = 'free_trial' THEN 'Free trial' "
        "ELSE 'Paying' END, count(*) FROM staging.viu_premium_subscriber_status "
        "WHERE status IN ('active', 'grace_period') GROUP BY ALL"
    )
    assert sorted(recurring) == sorted(exported)
    seed, first, count = window
    for offset in (0, count // 2, count - 1):
        day = first + dt.timedelta(days=offset)
        mine = Counter({row[1:4]: row[4] for row in recurring if row[0] == day})
        assert mine == python_point_in_time(world, day), day


@settings(
    max_examples=3,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(window=windows)
def test_active_moves_only_by_starts_and_churn(window, tmp_path_factory) -> None:
    warehouse, _ = built(*window, tmp_path_factory)
    rows = warehouse.rows(
        "SELECT country, platform, day, sum(active), sum(active_opening), "
        "sum(new_subscribers + reactivations - churn) FROM marts.subscriber_daily "
        "GROUP BY ALL ORDER BY 1, 2, 3"
    )
    for country, platform, day, active, opening, net in rows:
        assert active == opening + net, (country, platform, day)
    previous: dict[tuple[str, str], tuple[dt.date, int]] = {}
    for country, platform, day, active, opening, _ in rows:
        last = previous.get((country, platform))
        if last is not None and last[0] == day - dt.timedelta(days=1):
            assert opening == last[1], (country, platform, day)
        previous[(country, platform)] = (day, active)
