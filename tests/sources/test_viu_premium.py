"""viu-premium: parsing both exports, the file drop (folder and S3), demo data, and a load."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest

from tally.config import Settings, load_settings
from tally.errors import ConfigError, NotReadyError
from tally.lake import Lake
from tally.pipeline.context import Context
from tally.pipeline.ingest import ingest
from tally.pipeline.load import load
from tally.sources import get_dataset
from tally.sources.demo import DemoWorld
from tally.sources.settings import ViuPremiumSettings
from tally.sources.viu_premium import SubscriberStatus, Transactions

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
UTC = dt.UTC
STATUS = SubscriberStatus()
TRANSACTIONS = Transactions()


def test_datasets_are_registered_without_a_dataset_folder() -> None:
    status = get_dataset("viu-premium", "subscriber-status")
    transactions = get_dataset("viu-premium", "transactions")
    assert status.lake_dataset is None and transactions.lake_dataset is None
    day = dt.date(2016, 10, 26)
    assert status.file_names(day, load_settings(environ={})) == ["viu-premium-20161026.csv.gz"]
    assert transactions.file_names(day, load_settings(environ={})) == [
        "viu-premium-20161026_transaction_subscription_ios_iap.csv.gz",
        "viu-premium-20161026_transaction_subscription_android_iap.csv.gz",
        "viu-premium-20161026_transaction_subscription_csl.csv.gz",
    ]


def test_status_export_parses_to_typed_rows() -> None:
    data = gzip.compress((FIXTURES / "viu_premium_status.csv").read_bytes())
    parsed = STATUS.parse(data, "viu-premium-20261108.csv.gz")
    assert parsed.bad_rows == [] and parsed.rows_read == 3
    rows = parsed.table.to_pylist()
    assert rows[1]["status"] == "grace_period"
    assert rows[1]["country"] == "SG"
    # 20:15 at +08:00 is 12:15 UTC: stored as an instant in UTC
    assert rows[1]["current_period_start"] == dt.datetime(2026, 11, 3, 12, 15, tzinfo=UTC)
    assert rows[0]["auto_renew"] is True and rows[2]["auto_renew"] is False
    assert str(parsed.table.schema.field("expiry_time").type) == "timestamp[us, tz=UTC]"


def test_transactions_accept_z_times_thousands_and_list_unknown_columns() -> None:
    data = (FIXTURES / "viu_premium_transactions_csl.csv").read_bytes()
    parsed = TRANSACTIONS.parse(data, "x_csl.csv.gz")
    assert parsed.bad_rows == []
    first, refund = parsed.table.to_pylist()
    assert first["amount"] == 1058.0 and first["proceeds"] == pytest.approx(899.3)
    assert first["transaction_time"] == dt.datetime(2026, 10, 31, 16, 30, tzinfo=UTC)
    assert refund["type"] == "refund" and refund["amount"] == -1058.0
    assert parsed.unknown_columns == ["promo_code"]


def test_bad_rows_are_named_by_line_and_field_and_good_rows_kept() -> None:
    data = (FIXTURES / "viu_premium_transactions_bad.csv").read_bytes()
    parsed = TRANSACTIONS.parse(data, "bad.csv.gz")
    assert parsed.table.num_rows == 1 and parsed.rows_read == 6
    found = {(row.line, row.field) for row in parsed.bad_rows}
    assert found == {
        (3, "amount"),  # "sixty-eight"
        (4, "type"),  # "upgrade" is no transaction type
        (5, "transaction_time"),  # no UTC offset
        (6, "country"),  # "Hong Kong" is not an ISO code
        (7, None),  # too few fields
    }
    offset = next(row for row in parsed.bad_rows if row.line == 5)
    assert "no UTC offset" in offset.reason and offset.file == "bad.csv.gz"


def test_missing_column_fails_the_file_naming_it() -> None:
    text = (FIXTURES / "viu_premium_status.csv").read_text().replace("expiry_time", "expires")
    parsed = STATUS.parse(text.encode(), "viu-premium-20261108.csv.gz")
    assert parsed.table.num_rows == 0
    assert parsed.bad_rows[0].field == "expiry_time"
    assert "missing required column(s) expiry_time" in parsed.bad_rows[0].reason


def test_an_invalid_byte_quarantines_its_row_only() -> None:
    header, *rows = (FIXTURES / "viu_premium_status.csv").read_bytes().splitlines(keepends=True)
    broken = rows[0].replace(b",", b"\xff,", 1)  # one byte that is not UTF-8 in line 2
    parsed = STATUS.parse(gzip.compress(header + broken + b"".join(rows[1:])), "s.csv.gz")
    assert parsed.table.num_rows == len(rows) - 1 and parsed.rows_read == len(rows)
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [
        (2, "not valid UTF-8 (byte 0xff in the record)")
    ]


def test_a_truncated_gzip_is_one_clear_bad_row() -> None:
    data = gzip.compress((FIXTURES / "viu_premium_status.csv").read_bytes())
    parsed = STATUS.parse(data[:-12], "s.csv.gz")  # cut before the end-of-stream marker
    assert parsed.table.num_rows == 0 and parsed.rows_read == 1
    assert parsed.bad_rows[0].reason.startswith("not a readable gzip file: Compressed file ended")


def test_a_field_over_the_csv_limit_quarantines_its_row_only() -> None:
    header, *rows = (FIXTURES / "viu_premium_status.csv").read_bytes().splitlines(keepends=True)
    huge = rows[0].replace(b",", b"," + b"x" * 200_000, 1)  # csv's field limit is 131,072
    parsed = STATUS.parse(header + huge + b"".join(rows[1:]), "s.csv")
    assert parsed.table.num_rows == len(rows) - 1
    assert [b.line for b in parsed.bad_rows] == [2]
    assert "field larger than field limit" in parsed.bad_rows[0].reason


def _drop_settings(tmp_path: Path, url: str, **extra: str) -> Settings:
    environ = {"TALLY_DATA_DIR": str(tmp_path / "data"), "TALLY_SOURCES__VIU_PREMIUM__URL": url}
    for key, value in extra.items():
        environ[f"TALLY_SOURCES__VIU_PREMIUM__{key.upper()}"] = value
    return load_settings(environ=environ)


def test_fetch_reads_the_drop_folder_with_a_dated_layout(tmp_path: Path) -> None:
    day = dt.date(2026, 11, 8)
    folder = tmp_path / "drop" / "2026" / "11" / "08"
    folder.mkdir(parents=True)
    (folder / "viu-premium-20261108.csv.gz").write_bytes(b"exported")
    settings = _drop_settings(
        tmp_path, str(tmp_path / "drop"), path_template="{yyyy}/{mm}/{dd}/{file}"
    )
    assert STATUS.fetch(day, settings) == {"viu-premium-20261108.csv.gz": b"exported"}
    with pytest.raises(NotReadyError, match="not there yet"):
        TRANSACTIONS.fetch(day, settings)


def test_fetch_without_a_configured_drop_is_a_config_error(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="sources.viu-premium.url"):
        STATUS.fetch(dt.date(2026, 11, 8), settings)


def test_fetch_from_an_s3_prefix(tmp_path: Path) -> None:
    moto_server = pytest.importorskip("moto.server")
    import boto3
    import s3fs

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        client.create_bucket(Bucket="exports")
        name = "viu-premium-20261108.csv.gz"
        client.put_object(Bucket="exports", Key=f"premium/{name}", Body=b"from s3")
        s3fs.S3FileSystem.clear_instance_cache()
        settings = _drop_settings(tmp_path, "s3://exports/premium")
        settings.s3_endpoint_url = endpoint
        settings.section(ViuPremiumSettings).storage_options = {"key": "test", "secret": "test"}
        assert STATUS.fetch(dt.date(2026, 11, 8), settings) == {name: b"from s3"}
    finally:
        server.stop()


def test_demo_files_land_and_load_through_the_pipeline(tmp_path: Path, duckdb_warehouse) -> None:
    day = dt.date(2026, 11, 8)
    world = DemoWorld(3, day - dt.timedelta(days=40), day, scale=0.1)
    drop = tmp_path / "drop"
    drop.mkdir()
    files = {**STATUS.sample(day, world), **TRANSACTIONS.sample(day, world)}
    for name, data in files.items():
        (drop / name).write_bytes(data)
    settings = _drop_settings(tmp_path, str(drop))
    context = Context(settings, duckdb_warehouse, Lake(str(tmp_path / "lake")))
    expected = {}
    for dataset in (STATUS, TRANSACTIONS):
        results = ingest(context, dataset, day)
        assert all("/viu-premium/2026/11/08/" in r.key for r in results)  # no dataset folder
        loaded = load(context, dataset, day)
        assert loaded.bad_rows == []
        expected[dataset.staging_table] = loaded.rows
    for table, count in expected.items():
        assert duckdb_warehouse.rows(f"SELECT count(*) FROM {table}")[0][0] == count
    # the status export lists every subscription with access at the end of the day
    active = duckdb_warehouse.rows(
        "SELECT count(*) FROM staging.viu_premium_subscriber_status "
        "WHERE status IN ('active', 'grace_period')"
    )[0][0]
    assert active > 0
    assert active == sum(
        1 for s in world.subscriptions if any(p.start <= day < _access_end(p) for p in s.periods)
    )


def _access_end(period) -> dt.date:  # a refund ends access on its day
    if period.refunded_on is not None and period.refunded_on < period.end:
        return period.refunded_on
    return period.end


def test_demo_is_deterministic_and_every_billed_platform_has_a_file() -> None:
    day = dt.date(2026, 11, 8)
    first = DemoWorld(5, day - dt.timedelta(days=30), day, scale=0.1)
    second = DemoWorld(5, day - dt.timedelta(days=30), day, scale=0.1)
    assert TRANSACTIONS.sample(day, first) == TRANSACTIONS.sample(day, second)
    assert STATUS.sample(day, first) == STATUS.sample(day, second)
    assert len(TRANSACTIONS.sample(day, first)) == 3


def test_a_column_named_twice_in_the_header_is_no_crash() -> None:
    # found by make fuzz: the header's width, not its distinct names, is a row's width
    header, *rows = (FIXTURES / "viu_premium_status.csv").read_bytes().splitlines(keepends=True)
    doubled = header.rstrip(b"\n") + b",country\n"
    parsed = STATUS.parse(doubled + b"".join(rows), "s.csv")  # rows one field short
    assert parsed.table.num_rows == 0 and len(parsed.bad_rows) == len(rows)
    assert parsed.bad_rows[0].reason.endswith("fields, header has 15")
