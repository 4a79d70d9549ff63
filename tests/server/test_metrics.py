"""ELT figures and /metrics from a small hand-written ledger, on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from prometheus_client.parser import text_string_to_metric_families

from tally.config import Settings
from tally.server.metrics import dataset_statuses, exposition, scheduled_partitions
from tally.warehouse import Warehouse

TODAY = dt.date(2026, 3, 3)  # so a daily dataset is expected to have landed 2026-03-02


def _ledger(warehouse: Warehouse) -> None:
    with warehouse.session():  # one opening of the file for every insert
        _write_ledger(warehouse)


def _write_ledger(warehouse: Warehouse) -> None:
    """itunes/subscription-events: 03-01 and 03-02 landed and loaded (100 + 50 rows), one
    failed first attempt on 03-02, three quarantined rows. google-play/subscription-sales:
    only 02-25 landed (7 rows), five days behind. Nothing else has ever landed."""
    files = [
        ("k1", "itunes", "subscription-events", dt.date(2026, 3, 1), dt.datetime(2026, 3, 2, 9)),
        ("k2", "itunes", "subscription-events", dt.date(2026, 3, 2), dt.datetime(2026, 3, 3, 9)),
        ("k3", "google-play", "subscription-sales", dt.date(2026, 2, 25), dt.datetime(2026, 2, 26)),
    ]
    for key, source, dataset, day, landed in files:
        warehouse.execute(
            "INSERT INTO tally_meta.lake_files (key, sha256, size, source, dataset, "
            "partition_date, landed_at) VALUES (?, 'x', 10, ?, ?, ?, ?)",
            [key, source, dataset, day, landed],
        )
    runs = [
        ("r1", "itunes", "subscription-events", dt.date(2026, 3, 1), 9, "ok", 100, None),
        ("r2", "itunes", "subscription-events", dt.date(2026, 3, 2), 9, "failed", None, "boom"),
        ("r2", "itunes", "subscription-events", dt.date(2026, 3, 2), 10, "ok", 50, None),
        ("r0", "google-play", "subscription-sales", dt.date(2026, 2, 25), 8, "ok", 7, None),
    ]
    for index, (run, source, dataset, day, hour, status, rows, error) in enumerate(runs):
        started = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(hour))
        warehouse.execute(
            "INSERT INTO tally_meta.runs (run_id, step_id, job, source, dataset, partition_date, "
            "started_at, ended_at, status, rows_out, error) "
            "VALUES (?, ?, 'load', ?, ?, ?, ?, ?, ?, ?, ?)",
            [run, f"s{index}", source, dataset, day, started,
             started + dt.timedelta(seconds=2), status, rows, error],
        )  # fmt: skip
    for line in (3, 7, 9):
        warehouse.execute(
            "INSERT INTO tally_meta.quarantine (source, dataset, partition_date, file, line, "
            "reason, quarantined_at) VALUES ('itunes', 'subscription-events', ?, 'f.txt', ?, "
            "'bad date', ?)",
            [dt.date(2026, 3, 2), line, dt.datetime(2026, 3, 3, 10)],
        )


def test_dataset_statuses(warehouse: Warehouse) -> None:
    _ledger(warehouse)
    found = {(s.source, s.dataset): s for s in dataset_statuses(warehouse, TODAY)}
    itunes = found[("itunes", "subscription-events")]
    assert itunes.last_partition == dt.date(2026, 3, 2)
    assert itunes.expected_partition == dt.date(2026, 3, 2)
    assert (itunes.freshness, itunes.days_behind) == ("fresh", 0)
    assert itunes.rows_loaded == 150  # only successful loads: 100 + 50
    assert (itunes.failures, itunes.quarantined) == (1, 3)
    assert itunes.last_load_status == "ok"  # the retry at 10:00 came after the failure
    play = found[("google-play", "subscription-sales")]
    assert (play.freshness, play.days_behind) == ("stale", 5)  # 02-25 → 03-02: five days
    assert found[("viu-cms", "cms-episode")].freshness == "never landed"


def test_prometheus_text(warehouse: Warehouse) -> None:
    _ledger(warehouse)
    text = exposition(warehouse, TODAY).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    itunes = (("dataset", "subscription-events"), ("source", "itunes"))
    steps = (("job", "load"), ("status", "ok"))
    assert samples[("tally_run_steps_total", tuple(sorted(itunes + steps)))] == 2
    failed = tuple(sorted(itunes + (("job", "load"), ("status", "failed"))))
    assert samples[("tally_run_steps_total", failed)] == 1
    assert samples[("tally_rows_loaded_total", itunes)] == 150
    assert samples[("tally_rows_quarantined_total", itunes)] == 3
    assert samples[("tally_dataset_days_behind", itunes)] == 0
    play = (("dataset", "subscription-sales"), ("source", "google-play"))
    assert samples[("tally_dataset_days_behind", play)] == 5
    # 2026-02-25T00:00Z as Unix time
    assert samples[("tally_dataset_last_partition_timestamp_seconds", play)] == 1771977600
    assert "# TYPE tally_dataset_days_behind gauge" in text


def test_a_dataset_sharing_a_landed_file_is_fresh_by_its_ingest(warehouse: Warehouse) -> None:
    # The four GA series land one shared file; the manifest names only the first series, so
    # the others count as landed when their own ingest step succeeded.
    warehouse.execute(
        "INSERT INTO tally_meta.runs (run_id, step_id, job, source, dataset, partition_date, "
        "started_at, ended_at, status) VALUES ('r', 's', 'ingest', 'google-analytics', "
        "'web-uv-vv', DATE '2026-03-02', TIMESTAMP '2026-03-03 09:00:00', "
        "TIMESTAMP '2026-03-03 09:00:01', 'ok')"
    )
    found = {(s.source, s.dataset): s for s in dataset_statuses(warehouse, TODAY)}
    shared = found[("google-analytics", "web-uv-vv")]
    assert (shared.last_partition, shared.freshness) == (dt.date(2026, 3, 2), "fresh")


def test_a_scheduled_source_is_expected_by_its_latest_firing(warehouse: Warehouse) -> None:
    _ledger(warehouse)
    settings = Settings(
        sources={"itunes": {"schedule": "0 9 * * *", "schedule_timezone": "America/Los_Angeles"}}
    )
    los_angeles = ZoneInfo("America/Los_Angeles")
    # 2026-03-03 08:00 in Los Angeles: today's 09:00 firing has not happened; the latest,
    # 03-02 09:00, asked for 03-01 (one day's lag), which has landed.
    before = scheduled_partitions(settings, dt.datetime(2026, 3, 3, 8, tzinfo=los_angeles))
    assert before == {"itunes": dt.date(2026, 3, 1)}
    # A day later at 10:00 the firing of 03-04 asks for 03-03, which has not landed.
    later = scheduled_partitions(settings, dt.datetime(2026, 3, 4, 10, tzinfo=los_angeles))
    found = {(s.source, s.dataset): s for s in dataset_statuses(warehouse, TODAY, later)}
    itunes = found[("itunes", "subscription-events")]
    assert (itunes.expected_partition, itunes.freshness) == (dt.date(2026, 3, 3), "late")
    # Sources without a schedule keep the default: yesterday of TODAY.
    assert found[("google-play", "subscription-sales")].expected_partition == dt.date(2026, 3, 2)


def test_stream_input_counters(warehouse: Warehouse, tmp_path) -> None:
    from tally.stream.engine import Engine
    from tally.stream.events import Event
    from tally.stream.settings import stream_settings

    settings = stream_settings({"state_dir": str(tmp_path), "lake": {"enabled": False}})
    engine = Engine(settings, [], clock=lambda: 1_700_000_000.0)
    kept, refused = engine.screen(
        [Event("s", "k", 1_700_000_000.0), Event("s", "k", 1e27), Event("s", "k", 0.0)]
    )
    engine.ingest(kept)
    # the same event id twice in a later batch: the second is a copy (docs/stream.md)
    copies = [Event("s", "k", 1_700_000_000.0, id="e1") for _ in range(2)]
    engine.ingest(copies)
    engine.reject(2, "payload_too_deep")
    engine.input_restarts["mqtt"] += 1
    text = exposition(warehouse, TODAY, stream=engine.stats).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    # two events in the window (the id's copy dropped); 1e27 is ahead, 0 (1970) too old;
    # two payloads too deep
    assert samples[("tally_stream_events_received_total", ())] == 2
    assert samples[("tally_stream_events_duplicate_total", (("kind", "event_id"),))] == 1
    assert samples[("tally_stream_events_rejected_total", (("reason", "time_ahead"),))] == 1
    assert samples[("tally_stream_events_rejected_total", (("reason", "time_too_old"),))] == 1
    assert samples[("tally_stream_events_rejected_total", (("reason", "payload_too_deep"),))] == 2
    assert samples[("tally_stream_input_restarts_total", (("input", "mqtt"),))] == 1
