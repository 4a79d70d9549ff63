"""Finished files placed outside the raw lake's immutable keys (a report's workbook or CSV):
a local rename, or a streamed upload to ``s3://`` over the same fsspec storage as the lake.

A published file may be replaced (a report is regenerated); the raw lake's rules do not
apply to it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import fsspec

CHUNK_BYTES = 1024 * 1024


def storage_options(location: str, s3_endpoint_url: str = "") -> dict[str, Any]:
    """fsspec options for a location: another S3 API's endpoint (tests: moto) when set."""
    if location.startswith("s3://") and s3_endpoint_url:
        return {"client_kwargs": {"endpoint_url": s3_endpoint_url}}
    return {}


def publish(local: Path, location: str, *, s3_endpoint_url: str = "") -> None:
    """Move the finished ``local`` file to ``location`` (a path, ``file://`` or a URL)."""
    if "://" not in location or location.startswith("file://"):
        target = Path(location.removeprefix("file://"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, target)
        return
    options = storage_options(location, s3_endpoint_url)
    with local.open("rb") as source, fsspec.open(location, "wb", **options) as target:
        shutil.copyfileobj(source, target, length=CHUNK_BYTES)
    local.unlink()


def read_published(location: str, *, s3_endpoint_url: str = "") -> bytes | None:
    """The bytes of the file already published at ``location``, or None when there is none."""
    options = storage_options(location, s3_endpoint_url)
    try:
        with fsspec.open(location, "rb", **options) as source:
            data: bytes = source.read()
            return data
    except FileNotFoundError:
        return None


def published(base: str, pattern: str, *, s3_endpoint_url: str = "") -> list[str]:
    """The paths under ``base`` matching the glob ``pattern`` (``reports/*/x-*.xlsx``),
    sorted; each is the storage's own path, without the URL's scheme."""
    filesystem, folder = fsspec.core.url_to_fs(base, **storage_options(base, s3_endpoint_url))
    return sorted(filesystem.glob(f"{folder.rstrip('/')}/{pattern}"))
