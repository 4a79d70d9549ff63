"""Reading delimited text on a Spark cluster, with the same result as ``delimited.read_delimited``.

A warehouse whose cluster reads the lake itself (``capabilities.cluster_reads_lake``: Spark)
loads a dataset with a plain delimited ``layout`` here, so that its rows never pass through
Python: the executors read (and un-gzip) the file as text, one row per line, number the
lines, split them on the delimiter, and check and convert the values in Spark SQL, with the
patterns and the order of checks of ``delimited_sql`` (DuckDB's reading of the same files).
Only the header line (read here, to match the columns) and the bad rows (few: their
reasons are written by the reader's own functions) reach Python.

Line numbers: Spark numbers each row of a file split (``monotonically_increasing_id``:
split index << 33, plus the row's place in the split); a gzip'd file is one split, so the
number is the line; a plain file read in several splits is first counted split by split,
and each split's rows are offset by the rows of the splits before it.

A file the cluster cannot read exactly like the reader (not UTF-8, a NUL byte, a carriage
return inside a line, a line longer than ``MAX_LINE_BYTES``, UTF-16, a gzip'd file whose
name does not end in ``.gz`` or the reverse, an unreadable gzip stream) raises
``NativeReadError``, and the load parses that one file in Python instead, whose messages
name the exact fault.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from typing import Any

from tally.sources.base import BadRow
from tally.sources.csvtools import GZIP_ERRORS
from tally.sources.delimited import _FLOAT, _INT, MAX_LINE_BYTES, Column, Layout, read_header
from tally.sources.delimited_sql import (
    _BLANK,
    _ISO_DATE,
    _US_DATE,
    _WRONG_WIDTH,
    WHITESPACE,
    NativeReadError,
    _line_shape,
    _reasons,
)

# RE2's classes (DuckDB's and pyarrow's regex engine), spelled for Java's: ``\s`` is one
# character fewer in RE2 (no vertical tab), ``$`` in Java also matches before a final
# \u0085, \u2028 or \u2029; ``\z`` is the end of the text alone
_RE2_CLASSES = {r"\s": r"[\t\n\f\r ]", r"\d": "[0-9]"}


@dataclass
class ClusterRead:
    """One file read on the cluster: its good rows (a DataFrame, not yet run) and its bad
    rows (already here, with their reasons)."""

    frame: Any  # pyspark DataFrame: the typed columns in header order, _line, _file
    rows: int  # good rows
    rows_read: int  # rows after the header that are not blank (good + bad)
    bad_rows: list[BadRow] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)


def read_head(opened: Any) -> tuple[bool, bytes]:
    """Whether the open (binary) file is gzip'd, and its first line (at most 1 MiB)."""
    compressed = opened.read(2) == b"\x1f\x8b"
    opened.seek(0)
    try:
        head = (gzip.GzipFile(fileobj=opened) if compressed else opened).readline(1 << 20)
    except GZIP_ERRORS as error:
        raise NativeReadError(str(error)) from error
    if len(head) == 1 << 20:
        raise NativeReadError("header line longer than 1 MiB")
    return compressed, head


def read_on_cluster(
    spark: Any, url: str, key: str, layout: Layout, compressed: bool, head: bytes
) -> ClusterRead:
    """Read the file at ``url`` (``file://`` or ``s3a://``, as the cluster sees the lake)
    whose first line is ``head``; ``key`` names it in ``_file`` and in the bad rows.

    Raises ``BadInputError`` as ``read_delimited`` does for a bad header, and
    ``NativeReadError`` when the cluster cannot read the file exactly like the reader.
    """
    name = key.rsplit("/", 1)[-1]
    if compressed != name.endswith(".gz"):
        raise NativeReadError(f"{name}: Spark un-gzips by the name's .gz, the bytes disagree")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise NativeReadError(f"{name}: UTF-16")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    headers, columns, unknown = read_header(head, name, layout.columns, layout.delimiter)
    typed = _checked(_numbered_lines(spark, url), columns, len(headers), layout.delimiter)
    try:
        counts = typed.selectExpr(
            "count_if(_bad IS NULL) AS good",
            "count_if(_bad >= 0) AS bad",
            f"count_if(_bad IS DISTINCT FROM {_BLANK}) AS read",
            "count_if(_odd) AS unreadable",
        ).first()
    except Exception as error:  # noqa: BLE001 (a gzip stream Spark cannot read, say)
        raise NativeReadError(f"{name}: {str(error).splitlines()[0][:300]}") from error
    if counts["unreadable"]:
        raise NativeReadError(f"{name}: {counts['unreadable']} line(s) Spark reads otherwise")
    bad_rows: list[BadRow] = []
    if counts["bad"]:
        found = typed.where("_bad >= 0").select("_line", "_bad", "_text").orderBy("_line")
        bad_rows = _reasons(key, layout, columns, [tuple(row) for row in found.collect()])
    good = typed.where("_bad IS NULL").selectExpr(
        *[_quote(column.name) for column in columns], "_line", f"{_literal(key)} AS _file"
    )
    return ClusterRead(good, counts["good"], counts["read"], bad_rows, unknown)


def with_constants(frame: Any, named: dict[str, Any]) -> Any:
    """A cluster's frame of a file's rows with the columns it gets from its name."""
    from pyspark.sql import functions

    for name, value in named.items():
        frame = frame.withColumn(name, functions.lit(value))
    return frame


def _numbered_lines(spark: Any, url: str) -> Any:
    """The file's lines as rows of (``_line``, ``_text``, ``_odd``), numbered from 1 (the
    header); ``_odd``: a line the reader reads otherwise (checked on the raw bytes: a
    regular expression would have replaced invalid UTF-8 already)."""
    from pyspark.sql import functions as f

    # lines end at \n only (a \r\n ending loses its \r below; a \r elsewhere is refused)
    read = spark.read.option("lineSep", "\n").text(url)
    text = f.regexp_replace(f.col("value"), "\r\\z", "")
    odd = (
        ~f.expr("is_valid_utf8(value)")
        | (f.octet_length("value") > MAX_LINE_BYTES)
        | (f.instr("value", "\x00") > 0)
        | (f.instr(text, "\r") > 0)
    ).alias("_odd")
    split = f.spark_partition_id()
    place = f.monotonically_increasing_id() - f.shiftleft(split.cast("long"), 33)
    if read.rdd.getNumPartitions() == 1:
        return read.select((place + 1).alias("_line"), text.alias("_text"), odd)
    counted = dict(read.groupBy(split.alias("split")).count().collect())
    offsets, before = [], 0
    for index in sorted(counted):
        offsets += [f.lit(index), f.lit(before)]
        before += counted[index]
    offset = f.element_at(f.create_map(*offsets), split)
    return read.select((offset + place + 1).alias("_line"), text.alias("_text"), odd)


def _java(pattern: str) -> str:
    """An RE2 pattern of delimited.py as a Java pattern with the same matches."""
    for re2, java in _RE2_CLASSES.items():
        pattern = pattern.replace(re2, java)
    return pattern[:-1] + r"\z" if pattern.endswith("$") else pattern


def _literal(text: str) -> str:
    """A Spark SQL string literal (backslashes are escapes there)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _typed(kind: str, value: str) -> str:
    """Spark SQL turning a trimmed, non-empty (else NULL) value into its type; NULL if
    refused (the checks of ``delimited_sql._typed``)."""
    if kind == "text":
        return value
    infinite = "CAST('Infinity' AS DOUBLE)"
    if kind in ("int", "float"):
        target = "BIGINT" if kind == "int" else "DOUBLE"
        pattern = _literal(_java(_INT if kind == "int" else _FLOAT))
        cast = f"CASE WHEN _fast OR {value} RLIKE {pattern} THEN CAST({value} AS {target}) END"
        if kind == "float":  # '1e999' casts to infinity: refused, as the reader does
            return f"CASE WHEN abs({cast}) <> {infinite} THEN {cast} END"
        return cast
    if kind == "amount":
        cleaned = f"replace({value}, ',', '')"
        cast = f"CAST(trim(BOTH {_literal(WHITESPACE)} FROM {cleaned}) AS DOUBLE)"
        return (
            f"CASE WHEN {cleaned} RLIKE {_literal(_java(_FLOAT))} AND abs({cast}) <> {infinite} "
            f"THEN {cast} END"
        )
    if kind == "date":
        iso = f"CAST({value} AS DATE)"
        us = f"to_date({value}, 'M/d/yyyy')"
        return (
            f"CASE WHEN _fast THEN CASE WHEN substr({value}, 5, 1) = '-' THEN {iso} ELSE {us} END "
            f"WHEN {value} RLIKE {_literal(_java(_ISO_DATE))} THEN {iso} "
            f"WHEN {value} RLIKE {_literal(_java(_US_DATE))} THEN {us} END"
        )
    raise ValueError(f"unknown column kind {kind!r}")


def _checked(lines: Any, columns: list[Column], width: int, delimiter: str) -> Any:
    """Every line after the header with ``_bad`` (NULL: a good row; ``_BLANK``; the
    1-based index of the first column refused; ``_WRONG_WIDTH``) and its typed values."""
    space = _literal(WHITESPACE)
    split = _literal("\\Q" + delimiter + "\\E")
    shape = _literal(_java(_line_shape(columns, delimiter)))
    fields = lines.where("_line > 1").selectExpr(
        "_line",
        "_text",
        "_odd",
        f"split(_text, {split}, -1) AS _f",
        f"_text RLIKE {shape} AS _fast",
    )
    trimmed = fields.selectExpr(
        "_line",
        "_text",
        "_odd",
        "_fast",
        "size(_f) AS _width",
        *[
            f"nullif(CASE WHEN _fast THEN _f[{i}] ELSE trim(BOTH {space} FROM _f[{i}]) END, '')"
            f" AS _v{i}"
            for i in range(len(columns))
        ],
    )
    converted = trimmed.selectExpr(
        "_line",
        "_text",
        "_odd",
        "_width",
        *[f"_v{i}" for i in range(len(columns))],
        *[f"{_typed(c.kind, f'_v{i}')} AS _t{i}" for i, c in enumerate(columns)],
    )
    checks = []
    for i, column in enumerate(columns):
        refused = "false" if column.kind == "text" else f"(_v{i} IS NOT NULL AND _t{i} IS NULL)"
        if column.required:
            refused = f"({refused} OR _v{i} IS NULL)"
        if refused != "false":
            checks.append(f"WHEN {refused} THEN {i + 1}")
    bad = (
        f"CASE WHEN _width <> {width} THEN "
        f"CASE WHEN trim(BOTH {space} FROM _text) = '' THEN {_BLANK} ELSE {_WRONG_WIDTH} END "
        f"WHEN _text = {_literal(delimiter * (width - 1))} THEN {_BLANK} "
        f"{' '.join(checks)} END AS _bad"
    )
    return converted.selectExpr(
        "_line",
        "_text",
        "_odd",
        bad,
        *[f"_t{i} AS {_quote(c.name)}" for i, c in enumerate(columns)],
    )
