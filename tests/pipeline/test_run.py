"""The daily job: every dataset is tried, one failure never stops the others."""

import datetime as dt
import gzip
from pathlib import Path

from tally.pipeline.context import open_context
from tally.pipeline.ingest import land
from tally.pipeline.run import run_day
from tally.sources import get_dataset

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
DAY = dt.date(2016, 10, 23)


def test_one_bad_source_fails_alone_and_the_rest_load(settings):
    context = open_context(settings)
    events = get_dataset("itunes", "subscription-events")
    active = get_dataset("itunes", "active-subscription")
    good = gzip.compress((FIXTURES / "itunes_subscription_event_small.txt").read_bytes())
    land(context, events, DAY, {events.file_names(DAY, settings)[0]: good})
    # Apple's SUBSCRIPTION report without its required columns: the whole file is bad
    broken = gzip.compress(b"App Name\tCountry\ntally Video\tHK\n")
    land(context, active, DAY, {active.file_names(DAY, settings)[0]: broken})

    outcome = run_day(context, DAY, sources=["itunes"], fetch=False)

    assert outcome.loaded == {"itunes/subscription-events": 4}
    assert list(outcome.failed) == ["itunes/active-subscription"]
    assert "rows are bad" in outcome.failed["itunes/active-subscription"]
    assert not outcome.ok
    assert outcome.models["marts.itunes_daily_subscription_events"] == "ok"
    statuses = context.warehouse.rows(
        "SELECT dataset, status FROM tally_meta.runs WHERE job = 'load' ORDER BY dataset"
    )
    assert statuses == [("active-subscription", "failed"), ("subscription-events", "ok")]
    # rerunning is safe: the same partition, the same rows
    again = run_day(context, DAY, sources=["itunes"], fetch=False)
    assert again.loaded == outcome.loaded
    total = context.warehouse.rows("SELECT count(*) FROM staging.itunes_subscription_events")
    assert total == [(4,)]
