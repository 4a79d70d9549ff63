"""The demo is deterministic: twice gives identical tables (load-time `_` columns aside)."""

import datetime as dt

from tally.pipeline.context import open_context
from tally.pipeline.demo import run_demo
from tally.sources import get_dataset

END = dt.date(2016, 10, 31)


def snapshot(warehouse, table):
    columns = [c for c in warehouse.columns(table) if not c.startswith("_")]
    listed = ", ".join(f'"{c}"' for c in columns)
    return warehouse.rows(f"SELECT {listed} FROM {table} ORDER BY ALL")


def test_demo_twice_gives_identical_tables(settings):
    context = open_context(settings)
    datasets = [get_dataset("itunes", "subscription-events")]
    first = run_demo(context, days=3, seed=11, end=END, datasets=datasets)
    tables = ["staging.itunes_subscription_events", "marts.itunes_daily_subscription_events"]
    before = {t: snapshot(context.warehouse, t) for t in tables}
    second = run_demo(context, days=3, seed=11, end=END, datasets=datasets)
    after = {t: snapshot(context.warehouse, t) for t in tables}
    assert before == after
    assert first.rows == second.rows and sum(first.rows.values()) > 0
    assert first.start == dt.date(2016, 10, 29)
    dates = context.warehouse.rows(
        "SELECT DISTINCT _partition_date FROM staging.itunes_subscription_events ORDER BY 1"
    )
    assert [d for (d,) in dates] == [dt.date(2016, 10, 29), dt.date(2016, 10, 30), END]


def test_demo_signups_are_the_worlds_new_subscriptions() -> None:
    from tally.pipeline.demo import demo_signups
    from tally.sources.demo import DemoWorld

    start, end = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
    signups = demo_signups(7, start, end)
    world = DemoWorld(7, start, end)
    assert signups and all(start <= day <= end for _, _, day in signups)
    starts = {(s.user_id, s.country, s.start) for s in world.subscriptions}
    assert set(signups) <= starts
    assert len(signups) == sum(1 for s in world.subscriptions if start <= s.start <= end)
