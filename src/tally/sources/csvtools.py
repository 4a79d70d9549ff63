"""Text helpers around ``tally.sources.delimited`` for origins that drift in encoding.

Google writes its Play reports sometimes as UTF-16LE with a BOM and sometimes as UTF-8, so
the encoding is detected from the bytes and the text handed on as UTF-8 (the delimited
reader's one encoding). Writing helpers produce demo files in each origin's own shape.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from tally.errors import BadInputError

# What a damaged gzip stream raises: BadGzipFile (an OSError), EOFError when it is cut
# short, zlib.error when its deflate data is corrupt.
GZIP_ERRORS = (OSError, EOFError, zlib.error)


def gunzip(data: bytes, file: str) -> bytes:
    """The file unpacked if it is gzip'd (by its magic bytes), else as it is; a damaged
    stream is a BadInputError naming the file, so the load quarantines the file."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except GZIP_ERRORS as error:
        raise BadInputError(f"not a readable gzip file: {error}", file=file) from None


def detect_encoding(data: bytes) -> str:
    """A BOM decides; without one, NULs in every other byte mean UTF-16LE, else UTF-8."""
    if data.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le-bom"
    if data.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be-bom"
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    head = data[:200]
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4:
        return "utf-16-le"
    return "utf-8"


def to_utf8(data: bytes, file: str) -> bytes:
    """The file's text as UTF-8 bytes without a BOM; undecodable bytes name their line."""
    encoding = detect_encoding(data)
    if encoding == "utf-8":
        return data
    if encoding == "utf-8-sig":
        return data[3:]
    codec = "utf-16-be" if encoding.startswith("utf-16-be") else "utf-16-le"
    body = data[2:] if encoding.endswith("-bom") else data
    try:
        return body.decode(codec).encode("utf-8")
    except UnicodeDecodeError as error:
        good = body[: error.start - error.start % 2].decode(codec, errors="replace")
        raise BadInputError(
            f"not valid {codec.upper()} text ({error.reason} at byte {error.start})",
            file=file,
            line=good.count("\n") + 1,
        ) from None


def rows_of(data: bytes, file: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a small CSV (any detected encoding), for slicing and lookups."""
    reader = csv.reader(io.StringIO(to_utf8(data, file).decode("utf-8"), newline=""))
    rows = [row for row in reader if row]
    if not rows:
        raise BadInputError("empty file: no header line", file=file, line=1)
    return rows[0], rows[1:]


def write_csv(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    line_end: str = "\n",
) -> bytes:
    """Rows in an origin's own shape; ``utf-16`` writes a little-endian BOM as Google does."""
    buffer = io.StringIO()
    if delimiter == "\t":  # Apple's TSV is never quoted: a quote is a plain character
        writer = csv.writer(
            buffer,
            delimiter=delimiter,
            lineterminator=line_end,
            quoting=csv.QUOTE_NONE,
            quotechar=None,
        )
    else:
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    if encoding.lower() in ("utf-16", "utf-16-le-bom"):
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode(encoding)
