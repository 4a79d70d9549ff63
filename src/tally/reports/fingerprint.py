"""Which written reports need writing again: a digest of the figures each one shows.

A workbook carries the digest of its figures (data rows, Summary, analytics sheets) in a custom
document property, ``tally figures``. Before a report is written again (a daily run run
twice, ``tally backfill`` after correcting days) the digest of the figures it would show now
is compared with the one in the file: equal means the file is left alone, byte for byte.
CSV and Parquet files hold nothing but the rows, so their own bytes are compared.

The digest reads values, not their layout: rows as CSV text, the Summary's numbers rounded
to 12 significant digits (a sum the warehouse adds in another order differs in its last
bits, which no cell shows). A sheet that shows another input must add it to ``figures``.
"""

from __future__ import annotations

import dataclasses
import decimal
import hashlib
import io
import re
import zipfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

PROPERTY = "tally figures"
# Part of every digest: a change of what a workbook shows (a new sheet, another layout)
# changes this, so every workbook is written again once after an upgrade.
LAYOUT_VERSION = "subscription-workbook-1"
_STORED = re.compile(
    r'<property [^>]*name="' + PROPERTY + r'"[^>]*>\s*<vt:lpwstr>([0-9a-f]{64})</vt:lpwstr>'
)


def figures(rows: pa.Table, *shown: Any) -> str:
    """The digest of a report's figures: its data rows and whatever else it shows."""
    import pyarrow.csv as csv

    digest = hashlib.sha256(LAYOUT_VERSION.encode())
    sink = io.BytesIO()
    csv.write_csv(rows, sink)
    digest.update(sink.getvalue())
    for part in shown:
        digest.update(b"\x00" + canonical(part).encode())
    return digest.hexdigest()


def canonical(value: Any) -> str:
    """Text that is equal when two values show the same figures (floats to 12 digits)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = (
            f"{f.name}={canonical(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"{type(value).__name__}({', '.join(fields)})"
    if isinstance(value, float | decimal.Decimal):
        return f"{float(value):.12g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {canonical(v)}" for k, v in sorted(value.items())) + "}"
    # dates, text, integers; anything else by its repr, which at worst differs for equal
    # figures (the file is written again), never agrees for different ones
    return repr(value)


def stored(workbook: bytes) -> str | None:
    """The figures digest a workbook written by tally carries, or None (another file, or
    one written before digests were kept)."""
    try:
        with zipfile.ZipFile(io.BytesIO(workbook)) as package:
            custom = package.read("docProps/custom.xml").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError):
        return None
    found = _STORED.search(custom)
    return found.group(1) if found else None


def of_bytes(data: bytes) -> str:
    """The digest of a whole file (CSV and Parquet reports)."""
    return hashlib.sha256(data).hexdigest()
