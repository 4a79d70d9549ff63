"""Ingest → lake → load → staging, with quarantine and the ledger, end to end."""

import datetime as dt
import gzip
import shutil
from pathlib import Path

import pytest

from tally.errors import LakeConflictError, QuarantineError
from tally.pipeline.build import build
from tally.pipeline.context import open_context
from tally.pipeline.ingest import ingest, land
from tally.pipeline.load import load
from tally.sources import get_dataset

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
DAY = dt.date(2016, 10, 23)
EVENTS = get_dataset("itunes", "subscription-events")


@pytest.fixture
def context(settings):
    ctx = open_context(settings)
    yield ctx
    ctx.warehouse.close()


def local_report(tmp_path, name, gzipped=True):
    source = FIXTURES / name
    target = tmp_path / (name + (".gz" if gzipped else ""))
    if gzipped:
        target.write_bytes(gzip.compress(source.read_bytes(), mtime=0))
    else:
        shutil.copy(source, target)
    return target


def test_local_file_lands_under_apple_name_and_loads(context, tmp_path):
    path = local_report(tmp_path, "itunes_subscription_event_small.txt")
    (result,) = ingest(context, EVENTS, DAY, [path])
    assert result.key == (
        "thirdparty/external/itunes/subscription-events/2016/10/23/"
        "Subscription_Event_85082573_20161023.txt.gz"
    )
    manifest = context.warehouse.rows(
        "SELECT key, size, source, dataset, partition_date FROM tally_meta.lake_files"
    )
    assert manifest == [(result.key, result.size, "itunes", "subscription-events", DAY)]
    loaded = load(context, EVENTS, DAY)
    assert loaded.rows == 4
    total = context.warehouse.rows(
        "SELECT sum(quantity), count(*) FROM staging.itunes_subscription_events "
        "WHERE _partition_date = ?",
        [DAY],
    )
    assert total == [(3 + 12 + 2 + 5, 4)]
    # and the first model sums Apple's Quantity per day, country, subscription and event
    assert build(context)["marts.itunes_daily_subscription_events"] == "ok"
    renew_hk = context.warehouse.rows(
        "SELECT events FROM marts.itunes_daily_subscription_events "
        "WHERE country = 'HK' AND event = 'Renew'"
    )
    assert renew_hk == [(12,)]


def test_reload_is_idempotent(context, tmp_path):
    ingest(context, EVENTS, DAY, [local_report(tmp_path, "itunes_subscription_event_small.txt")])
    load(context, EVENTS, DAY)
    load(context, EVENTS, DAY)
    assert context.warehouse.rows("SELECT count(*) FROM staging.itunes_subscription_events") == [
        (4,)
    ]


def test_landing_other_bytes_needs_force(context, tmp_path):
    ingest(context, EVENTS, DAY, [local_report(tmp_path, "itunes_subscription_event_small.txt")])
    other = local_report(tmp_path, "itunes_subscription_event_bad.txt")
    with pytest.raises(LakeConflictError):
        ingest(context, EVENTS, DAY, [other])
    ingest(context, EVENTS, DAY, [other], force=True)
    superseded = context.warehouse.rows(
        "SELECT count(*) FROM tally_meta.lake_files WHERE superseded_by LIKE '_versions/%'"
    )
    assert superseded == [(1,)]


def test_bad_rows_past_threshold_fail_and_keep_the_previous_partition(context, tmp_path):
    ingest(context, EVENTS, DAY, [local_report(tmp_path, "itunes_subscription_event_small.txt")])
    load(context, EVENTS, DAY)
    ingest(
        context,
        EVENTS,
        DAY,
        [local_report(tmp_path, "itunes_subscription_event_bad.txt")],
        force=True,
    )
    # 3 of 5 rows are bad: 60 % > the default 5 % threshold
    with pytest.raises(QuarantineError, match="3 of 5 rows are bad"):
        load(context, EVENTS, DAY)
    kept = context.warehouse.rows("SELECT sum(quantity) FROM staging.itunes_subscription_events")
    assert kept == [(22,)]  # still the good file's 3 + 12 + 2 + 5
    quarantined = context.warehouse.rows(
        "SELECT line, field FROM tally_meta.quarantine ORDER BY line"
    )
    assert quarantined == [(3, "Event Date"), (4, None), (5, "Quantity")]
    failed = context.warehouse.rows(
        "SELECT status, rows_in, rows_quarantined, error FROM tally_meta.runs "
        "WHERE job = 'load' ORDER BY started_at"
    )
    assert [row[0] for row in failed] == ["ok", "failed"]
    assert failed[1][1:3] == (5, 3) and "QuarantineError" in failed[1][3]


def test_bad_rows_under_threshold_load_the_good_ones(context, tmp_path, monkeypatch):
    context.settings.quarantine_threshold = 0.8
    ingest(context, EVENTS, DAY, [local_report(tmp_path, "itunes_subscription_event_bad.txt")])
    loaded = load(context, EVENTS, DAY)
    assert len(loaded.bad_rows) == 3
    loaded = context.warehouse.rows(
        "SELECT _line, event, _file FROM staging.itunes_subscription_events ORDER BY _line"
    )
    assert [(line, event) for line, event, _ in loaded] == [(2, "Renew"), (6, "Refund")]
    assert loaded[0][2].endswith("Subscription_Event_85082573_20161023.txt.gz")
    step = context.warehouse.rows(
        "SELECT status, rows_in, rows_out, rows_quarantined FROM tally_meta.runs WHERE job='load'"
    )
    assert step == [("ok", 5, 2, 3)]


def test_ingest_records_a_ledger_row_with_bytes(context, tmp_path):
    path = local_report(tmp_path, "itunes_subscription_event_small.txt")
    ingest(context, EVENTS, DAY, [path])
    runs = context.warehouse.rows(
        "SELECT job, source, dataset, partition_date, status, bytes FROM tally_meta.runs"
    )
    assert runs == [("ingest", "itunes", "subscription-events", DAY, "ok", path.stat().st_size)]


def test_datasets_sharing_one_file_each_get_a_manifest_row(context):
    # Google Analytics' four series land in one file, third-party-data.gz
    first = get_dataset("google-analytics", "web-uv")
    second = get_dataset("google-analytics", "web-uv-vv")
    files = {"third-party-data.gz": b"same bytes"}
    land_results = [land(context, dataset, DAY, files) for dataset in (first, second, second)]
    assert [r[0].status for r in land_results] == ["new", "unchanged", "unchanged"]
    manifest = context.warehouse.rows(
        "SELECT dataset, key FROM tally_meta.lake_files ORDER BY dataset"
    )
    key = "thirdparty/external/google-analytics/2016/10/23/third-party-data.gz"
    assert manifest == [("web-uv", key), ("web-uv-vv", key)]


def _staged_and_quarantined(context):
    staged = context.warehouse.query(
        "SELECT * EXCLUDE (_run_id, _loaded_at) FROM staging.itunes_subscription_events "
        "ORDER BY _file, _line"
    )
    quarantined = context.warehouse.rows(
        "SELECT source, dataset, partition_date, file, line, field, reason, raw "
        "FROM tally_meta.quarantine ORDER BY file, line"
    )
    return staged, quarantined


@pytest.mark.parametrize(
    "fixture", ["itunes_subscription_event_bad.txt", "itunes_subscription_event_small.txt"]
)
def test_duckdb_reading_in_place_and_pyarrow_load_the_same(context, tmp_path, monkeypatch, fixture):
    import tally.pipeline.load as loading

    context.settings.quarantine_threshold = 0.8
    ingest(context, EVENTS, DAY, [local_report(tmp_path, fixture)])
    assert loading.reads_in_place(context, EVENTS)  # DuckDB, a local lake, a plain layout
    in_place = load(context, EVENTS, DAY)
    staged, quarantined = _staged_and_quarantined(context)
    monkeypatch.setattr(loading, "reads_in_place", lambda context, dataset: False)
    in_python = load(context, EVENTS, DAY)
    assert (in_python.rows, in_python.rows_read) == (in_place.rows, in_place.rows_read)
    assert in_python.bad_rows == in_place.bad_rows
    again, quarantined_again = _staged_and_quarantined(context)
    assert again.equals(staged)
    assert quarantined_again == quarantined
    assert staged.num_rows == (2 if fixture.endswith("_bad.txt") else 4)


def test_a_file_duckdb_cannot_read_is_parsed_in_python(context, tmp_path):
    text = (FIXTURES / "itunes_subscription_event_small.txt").read_bytes()
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(gzip.compress(text + b"2016-10-23\tRenew\t\xff\n", mtime=0))
    ingest(context, EVENTS, DAY, [broken])
    context.settings.quarantine_threshold = 0.8
    loaded = load(context, EVENTS, DAY)
    # pyarrow's verdict, with its line: that line alone is quarantined, the four others land
    quarantined = context.warehouse.rows("SELECT line, reason FROM tally_meta.quarantine")
    assert quarantined == [(6, "not valid UTF-8 (invalid start byte at byte 17 of the line)")]
    assert (loaded.rows, loaded.rows_read) == (4, 5)


def test_both_backends_load_the_malformed_fixture_alike(warehouse, settings, tmp_path):
    # DuckDB reads the file in place, PostgreSQL gets it parsed by pyarrow: same outcome
    from tally.lake import Lake
    from tally.pipeline.context import Context

    settings.quarantine_threshold = 0.8
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    ingest(context, EVENTS, DAY, [local_report(tmp_path, "itunes_subscription_event_bad.txt")])
    loaded = load(context, EVENTS, DAY)
    assert (loaded.rows, loaded.rows_read) == (2, 5)
    staged = warehouse.rows(
        "SELECT _line, event_date, event, quantity, x_paid_service_days_recovered "
        "FROM staging.itunes_subscription_events ORDER BY _line"
    )
    assert staged == [(2, DAY, "Renew", 12, "0"), (6, DAY, "Refund", 1, "0")]
    quarantined = warehouse.rows(
        "SELECT line, field, reason, raw FROM tally_meta.quarantine ORDER BY line"
    )
    assert [row[:3] for row in quarantined] == [
        (3, "Event Date", "not a date: '2016-13-45'"),
        (4, None, "expected 29 fields, found 5"),
        (5, "Quantity", "not a int: 'many'"),
    ]
    assert quarantined[1][3] == "2016-10-23\tRenew\ttally Video\t1123456789\tPremium Monthly"


def test_refused_lines_inserted_in_the_one_pass_are_gone_before_the_commit(context, tmp_path):
    """Read in place, every line is inserted in one pass over the file, the refused and
    blank ones without ``_loaded_at``; they are named and deleted in the same transaction,
    on a first load as on a reload over the partition's earlier rows."""
    context.settings.quarantine_threshold = 0.8
    ingest(context, EVENTS, DAY, [local_report(tmp_path, "itunes_subscription_event_bad.txt")])
    for _ in range(2):
        loaded = load(context, EVENTS, DAY)
        assert (loaded.rows, loaded.rows_read, len(loaded.bad_rows)) == (2, 5, 3)
        counts = context.warehouse.rows(
            "SELECT count(*), count(*) FILTER (WHERE _loaded_at IS NULL) "
            "FROM staging.itunes_subscription_events"
        )
        assert counts == [(2, 0)]
        assert context.warehouse.rows("SELECT count(*) FROM tally_meta.quarantine") == [(3,)]


ACTIVE = get_dataset("itunes", "active-subscription")


def subscription_report(tmp_path: Path) -> Path:
    """An App Store SUBSCRIPTION report of DAY: two good rows, a count that is no number
    (line 3) and a row without its required Country (line 5)."""
    from tally.sources.itunes_subscription import SUBSCRIPTION_COLUMNS, subscription_file

    sample = {"int": "12", "amount": "1,299.00", "text": "Premium"}

    def row(**changed: str) -> str:
        values = {c.name: sample.get(c.kind, "x") for c in SUBSCRIPTION_COLUMNS}
        values.update(changed)
        return "\t".join(values[c.name] for c in SUBSCRIPTION_COLUMNS)

    lines = [
        "\t".join(c.header for c in SUBSCRIPTION_COLUMNS),
        row(country="HK"),
        row(country="SG", active_standard_price_subscriptions="many"),
        row(country="SG"),
        row(country=""),
    ]
    path = tmp_path / subscription_file("85082573", DAY)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    return path


def test_the_subscription_report_read_in_place_gets_its_day_from_the_name_as_parse_does(
    context, tmp_path, monkeypatch
):
    import tally.pipeline.load as loading

    context.settings.quarantine_threshold = 0.8
    ingest(context, ACTIVE, DAY, [subscription_report(tmp_path)])
    assert loading.reads_in_place(context, ACTIVE)  # a plain layout, plus its file's day
    in_place = load(context, ACTIVE, DAY)
    query = (
        "SELECT * EXCLUDE (_run_id, _loaded_at) FROM staging.itunes_active_subscriptions "
        "ORDER BY _line"
    )
    staged = context.warehouse.query(query)
    monkeypatch.setattr(loading, "reads_in_place", lambda context, dataset: False)
    in_python = load(context, ACTIVE, DAY)
    assert context.warehouse.query(query).equals(staged)
    assert in_python.bad_rows == in_place.bad_rows
    # lines 2 and 4 land, each with the report's day from the file name
    assert (in_place.rows, in_place.rows_read) == (2, 4)
    assert staged.select(["report_date", "country", "_line"]).to_pylist() == [
        {"report_date": DAY, "country": "HK", "_line": 2},
        {"report_date": DAY, "country": "SG", "_line": 4},
    ]
    assert [(b.line, b.field) for b in in_place.bad_rows] == [
        (3, "Active Standard Price Subscriptions"),
        (5, "Country"),
    ]
