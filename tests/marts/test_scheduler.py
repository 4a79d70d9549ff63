"""The scheduler: firings to partitions, catch-up of missed days, retries and partition locks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tally.config import load_settings
from tally.errors import ConfigError
from tally.pipeline.context import Context, open_context
from tally.pipeline.run import run_day
from tally.pipeline.scheduler import Schedule, partition_lock, run_due, schedules
from tally.sources.demo import DemoWorld
from tally.sources.settings import ViuPremiumSettings
from tally.sources.viu_premium import SubscriberStatus, Transactions

UTC = dt.UTC
HONG_KONG_0630 = "30 6 * * *"


def test_a_firing_loads_the_day_before_in_the_schedules_zone() -> None:
    schedule = Schedule("viu-premium", HONG_KONG_0630, "Asia/Hong_Kong")
    # 06:30 in Hong Kong on 9 Nov is 22:30 UTC on 8 Nov: the job loads 8 Nov
    since = dt.datetime(2026, 11, 8, 22, 0, tzinfo=UTC)
    assert schedule.partitions(since, dt.datetime(2026, 11, 8, 22, 29, tzinfo=UTC)) == []
    assert schedule.partitions(since, dt.datetime(2026, 11, 8, 22, 30, tzinfo=UTC)) == [
        dt.date(2026, 11, 8)
    ]
    # three days down: three firings, oldest first
    since = dt.datetime(2026, 11, 5, 23, 0, tzinfo=UTC)
    assert schedule.partitions(since, dt.datetime(2026, 11, 8, 23, 0, tzinfo=UTC)) == [
        dt.date(2026, 11, 6),
        dt.date(2026, 11, 7),
        dt.date(2026, 11, 8),
    ]


def test_schedules_come_from_the_settings_and_are_checked() -> None:
    environ = {
        "TALLY_SOURCES__VIU_PREMIUM__SCHEDULE": HONG_KONG_0630,
        "TALLY_SOURCES__VIU_PREMIUM__SCHEDULE_TIMEZONE": "Asia/Hong_Kong",
    }
    assert schedules(load_settings(environ=environ)) == [
        Schedule("viu-premium", HONG_KONG_0630, "Asia/Hong_Kong", 1)
    ]
    # itunes, once its key is configured, runs on Apple's time: 09:00 Pacific by default
    with_key = load_settings(environ={"TALLY_ITUNES__KEY_ID": "ABC123"})
    assert Schedule("itunes", "0 9 * * *", "America/Los_Angeles", 1) in schedules(with_key)
    bad = {"TALLY_SOURCES__VIU_PREMIUM__SCHEDULE": "every morning"}
    with pytest.raises(ConfigError, match="not a cron expression"):
        schedules(load_settings(environ=bad))


def drop_context(tmp_path: Path, days: list[dt.date]) -> Context:
    """viu-premium scheduled at 06:30 Hong Kong time, its drop folder holding ``days``."""
    drop = tmp_path / "drop"
    drop.mkdir()
    world = DemoWorld(2, days[0] - dt.timedelta(days=5), days[-1], scale=0.02)
    for day in days:
        for dataset in (SubscriberStatus(), Transactions()):
            for name, data in dataset.sample(day, world).items():
                (drop / name).write_bytes(data)
    settings = load_settings(
        environ={
            "TALLY_DATA_DIR": str(tmp_path / "data"),
            "TALLY_SOURCES__VIU_PREMIUM__URL": str(drop),
            "TALLY_SOURCES__VIU_PREMIUM__SCHEDULE": HONG_KONG_0630,
            "TALLY_SOURCES__VIU_PREMIUM__SCHEDULE_TIMEZONE": "Asia/Hong_Kong",
        }
    )
    return open_context(settings)


def test_missed_days_are_caught_up_then_not_run_again(tmp_path: Path) -> None:
    days = [dt.date(2026, 11, 6), dt.date(2026, 11, 7)]
    context = drop_context(tmp_path, days)
    with context.warehouse.session():  # one connection for the whole test (faster on DuckDB)
        _catch_up(context, days)


def _catch_up(context: Context, days: list[dt.date]) -> None:
    # 9 Nov 01:00 UTC: firings on 7, 8 and 9 Nov (HK) want 6, 7 and 8 Nov; 8 Nov is not dropped yet
    now = dt.datetime(2026, 11, 9, 1, 0, tzinfo=UTC)
    runs = run_due(context, now=now, catch_up_days=3)
    assert [(r.day, r.status) for r in runs] == [
        (dt.date(2026, 11, 6), "ok"),
        (dt.date(2026, 11, 7), "ok"),
        (dt.date(2026, 11, 8), "not_ready"),
    ]
    loaded = context.warehouse.rows(
        "SELECT DISTINCT _partition_date FROM staging.viu_premium_transactions ORDER BY 1"
    )
    assert [row[0] for row in loaded] == days
    # the next tick runs only what is still missing (not ready is tried again, uncounted)
    again = run_due(context, now=now, catch_up_days=3)
    assert [(r.day, r.status) for r in again] == [(dt.date(2026, 11, 8), "not_ready")]
    ledger = context.warehouse.rows(
        "SELECT partition_date, status, count(*) FROM tally_meta.runs WHERE job = 'scheduled' "
        "GROUP BY ALL ORDER BY 1, 2"
    )
    assert ledger == [
        (dt.date(2026, 11, 6), "ok", 1),
        (dt.date(2026, 11, 7), "ok", 1),
        (dt.date(2026, 11, 8), "not_ready", 2),
    ]


def test_a_running_partition_is_not_started_twice(tmp_path: Path) -> None:
    day = dt.date(2026, 11, 8)
    context = drop_context(tmp_path, [day])
    now = dt.datetime(2026, 11, 9, 1, 0, tzinfo=UTC)
    with partition_lock(context.settings, "viu-premium", day) as mine:
        assert mine
        runs = run_due(context, now=now, catch_up_days=1)
        assert [(r.day, r.status) for r in runs] == [(day, "locked")]
    assert [r.status for r in run_due(context, now=now, catch_up_days=1)] == ["ok"]


def test_failed_partitions_stop_after_max_attempts(tmp_path: Path) -> None:
    day = dt.date(2026, 11, 8)
    context = drop_context(tmp_path, [day])
    drop = Path(context.settings.section(ViuPremiumSettings).url)
    (drop / f"viu-premium-{day:%Y%m%d}.csv.gz").write_bytes(b"user_id\nnothing else")
    now = dt.datetime(2026, 11, 9, 1, 0, tzinfo=UTC)
    with context.warehouse.session():
        _fail_twice(context, now)


def _fail_twice(context: Context, now: dt.datetime) -> None:
    first = run_due(context, now=now, catch_up_days=1, max_attempts=2)
    assert [r.status for r in first] == ["failed"]
    assert "missing required column" in first[0].detail
    assert [r.status for r in run_due(context, now=now, catch_up_days=1, max_attempts=2)] == [
        "failed"
    ]
    assert run_due(context, now=now, catch_up_days=1, max_attempts=2) == []


def test_cli_scheduler_once_runs_what_is_due(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from tally.cli.main import app

    yesterday = dt.datetime.now(UTC).date() - dt.timedelta(days=1)
    context = drop_context(tmp_path, [yesterday])
    monkeypatch.setenv("TALLY_DATA_DIR", context.settings.data_dir)
    monkeypatch.setenv("TALLY_SOURCES__VIU_PREMIUM__URL", str(tmp_path / "drop"))
    monkeypatch.setenv("TALLY_SOURCES__VIU_PREMIUM__SCHEDULE", "0 0 * * *")
    monkeypatch.setenv("TALLY_SOURCES__VIU_PREMIUM__SCHEDULE_TIMEZONE", "UTC")
    result = CliRunner().invoke(app, ["scheduler", "--once", "--catch-up-days", "1"])
    assert result.exit_code == 0, result.output
    assert "viu-premium: '0 0 * * *' UTC" in result.output
    assert f"ok viu-premium {yesterday}" in result.output


# -- a sibling not ready, and a re-download in a new gzip wrapper (issue 25) -----------------

APPLE_DAY = dt.date(2026, 11, 8)
# 9 Nov 18:00 UTC is 10:00 in Los Angeles: iTunes' 09:00 Pacific firing for 8 Nov is due
AFTER_FIRING = dt.datetime(2026, 11, 9, 18, 0, tzinfo=UTC)


@pytest.fixture
def apple_store(tmp_path: Path, httpserver):
    """A stand-in for App Store Connect's salesReports: the Subscription Event report comes
    back in a new gzip each time (the gzip header's time changes, the report does not); the
    Subscription report answers 404 (Apple's "not available yet") until published."""
    import gzip

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from werkzeug import Response

    from tally.sources.itunes import SubscriptionEvents
    from tally.sources.itunes_subscription import ActiveSubscriptions

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    world = DemoWorld(3, APPLE_DAY - dt.timedelta(days=5), APPLE_DAY, scale=0.02)
    reports = {
        "SUBSCRIPTION_EVENT": gzip.decompress(
            next(iter(SubscriptionEvents().sample(APPLE_DAY, world).values()))
        ),
        "SUBSCRIPTION": gzip.decompress(
            next(iter(ActiveSubscriptions().sample(APPLE_DAY, world).values()))
        ),
    }
    state = {"published": {"SUBSCRIPTION_EVENT"}, "asked": {}}

    def handler(request):
        token = request.headers["Authorization"].removeprefix("Bearer ")
        jwt.decode(token, private.public_key(), algorithms=["ES256"], audience="appstoreconnect-v1")
        kind = request.args["filter[reportType]"]
        asked = state["asked"][kind] = state["asked"].get(kind, 0) + 1
        if kind not in state["published"]:
            return Response('{"errors": [{"status": "404", "code": "NOT_FOUND"}]}', status=404)
        wrapper = gzip.compress(reports[kind], mtime=1_700_000_000 + asked)  # a new wrapper
        return Response(wrapper, status=200, content_type="application/a-gzip")

    httpserver.expect_request("/v1/salesReports").respond_with_handler(handler)
    settings = load_settings(
        environ={
            "TALLY_DATA_DIR": str(tmp_path / "data"),
            "TALLY_ITUNES__API_URL": httpserver.url_for("").rstrip("/"),
            "TALLY_ITUNES__ISSUER_ID": "57246542-96fe-1a63-e053-0824d011072a",
            "TALLY_ITUNES__KEY_ID": "2X9R4HXF34",
            "TALLY_ITUNES__PRIVATE_KEY": pem,
        }
    )
    return open_context(settings), state


def test_a_sibling_not_ready_never_refetches_what_landed(apple_store) -> None:
    from tally.pipeline.ingest import ingest
    from tally.sources import get_dataset

    context, apple = apple_store
    first = run_due(context, now=AFTER_FIRING, catch_up_days=1)
    assert [(r.day, r.status) for r in first] == [(APPLE_DAY, "not_ready")]
    assert "itunes/active-subscription" in first[0].detail
    # an hour later the scheduler tries again: the landed sibling is not downloaded again
    again = run_due(context, now=AFTER_FIRING + dt.timedelta(hours=1), catch_up_days=1)
    assert [r.status for r in again] == ["not_ready"]
    assert apple["asked"] == {"SUBSCRIPTION_EVENT": 1, "SUBSCRIPTION": 2}
    # asked for anyway (tally ingest), the same report in a new gzip is the same file
    events = get_dataset("itunes", "subscription-events")
    [result] = ingest(context, events, APPLE_DAY)
    assert apple["asked"]["SUBSCRIPTION_EVENT"] == 2 and result.status == "unchanged"
    # not ready is its own status, never failed, so no alert fires before the deadline
    statuses = context.warehouse.rows(
        "SELECT job, coalesce(dataset, ''), status, count(*) FROM tally_meta.runs "
        "GROUP BY ALL ORDER BY ALL"
    )
    assert ("ingest", "active-subscription", "not_ready", 2) in statuses
    assert ("scheduled", "", "not_ready", 2) in statuses
    assert not [row for row in statuses if row[2] == "failed"], statuses
    # Apple publishes: the next tick lands the sibling and the day is done
    apple["published"].add("SUBSCRIPTION")
    done = run_due(context, now=AFTER_FIRING + dt.timedelta(hours=2), catch_up_days=1)
    assert [r.status for r in done] == ["ok"]
    assert apple["asked"] == {"SUBSCRIPTION_EVENT": 2, "SUBSCRIPTION": 3}


def test_not_ready_past_the_deadline_fails(apple_store) -> None:
    context, _ = apple_store
    # 8 Nov ended at midnight UTC; 11 Nov 01:00 is 49 h later, past the default 36 h
    late = dt.datetime(2026, 11, 11, 1, 0, tzinfo=UTC)
    outcome = run_day(context, APPLE_DAY, sources=["itunes"], now=late)
    assert outcome.not_ready == []
    assert outcome.failed["itunes/active-subscription"].startswith(
        "not ready 49 h after the day ended (deadline 36 h)"
    )
    # a per-dataset deadline in the settings moves it
    context.settings.configure("sources.itunes", {"deadline_hours": {"active-subscription": 72}})
    outcome = run_day(context, APPLE_DAY, sources=["itunes"], now=late)
    assert outcome.failed == {} and len(outcome.not_ready) == 1
