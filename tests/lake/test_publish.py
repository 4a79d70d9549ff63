"""Publishing a finished file: a local rename (folders made), the scratch copy gone."""

from __future__ import annotations

from pathlib import Path

from tally.lake.publish import publish, storage_options


def test_a_local_location_receives_the_file_and_its_folders(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch.xlsx"
    scratch.write_bytes(b"workbook")
    target = tmp_path / "reports" / "HK" / "2026-11.xlsx"
    publish(scratch, f"file://{target}")
    assert target.read_bytes() == b"workbook" and not scratch.exists()


def test_only_s3_locations_take_the_endpoint() -> None:
    endpoint = {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}
    assert storage_options("s3://bucket/r.xlsx", "http://127.0.0.1:9") == endpoint
    assert storage_options("/srv/r.xlsx", "http://127.0.0.1:9") == {}
    assert storage_options("s3://bucket/r.xlsx") == {}
