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

Quoted text (``Layout.quoted``: Google Play, the CMS export, Google Drive's sheets): the
numbered lines are joined into records where a quoted value holds a line break, numbered
as the pyarrow reader numbers them, and split into values by one Java pattern that takes
their quotes off (``_records``). UTF-16LE with a byte order mark (Google Play's reports) is
read whole as bytes by the cluster (``binaryFile``), decoded there and split into lines
(``_utf16_lines``): Spark's text and CSV readers number no lines, and its CSV reader skips
blank lines, which the pyarrow reader counts.

The checks of each column's kind are ``delimited_sql``'s (``typed``, ``refusals``, written
once, here in Spark's spelling: ``SPARK``). A layout's ``rule`` (a check beyond the kinds,
such as the exchange rates' currency code) is run as its ``passes`` condition, which
implies the rule; the rows it does not pass come back and the rule's own function names
them.

A file the cluster cannot read exactly like the reader (not UTF-8, a NUL byte, a carriage
return inside a line, a line longer than ``MAX_LINE_BYTES``, UTF-16 without a byte order
mark or gzip'd, a stray quote, a gzip'd file whose name does not end in ``.gz`` or the
reverse, an unreadable gzip stream, a row the rule's function takes that ``passes`` does
not) raises ``NativeReadError``, and the load parses that one file in Python instead, whose
messages name the exact fault.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass, field
from typing import Any

from tally.sources.base import BadRow
from tally.sources.csvtools import GZIP_ERRORS
from tally.sources.delimited import MAX_LINE_BYTES, Column, Layout, read_header
from tally.sources.delimited_sql import (
    _BLANK,
    _WRONG_WIDTH,
    WHITESPACE,
    Dialect,
    NativeReadError,
    _line_shape,
    _reasons,
    refusals,
    trimmed_values,
    typed,
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


def can_read_on_cluster(layout: Layout) -> bool:
    """Layouts this module reads exactly like the pyarrow reader does."""
    return len(layout.delimiter) == 1 and layout.delimiter not in '\r\n"'


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
    wide = head.startswith(b"\xff\xfe")
    if (wide and compressed) or head.startswith(b"\xfe\xff") or (b"\x00" in head and not wide):
        raise NativeReadError(f"{name}: UTF-16 that is gzip'd or has no little-endian BOM")
    head = _utf8_header(head)
    headers, columns, unknown = read_header(head, name, layout.columns, layout.delimiter)
    lines = _utf16_lines(spark, url) if wide else _numbered_lines(spark, url)
    fields = (
        _records(lines, layout.delimiter)
        if layout.quoted
        else _split(lines, columns, layout.delimiter)
    )
    typed_rows = _checked(fields, columns, len(headers))
    passes = layout.rule.passes if layout.rule else "true"
    counts = cluster_counts(
        typed_rows,
        name,
        f"count_if(_bad IS NULL AND coalesce({passes}, false)) AS good",
        "count_if(_bad >= 0) AS bad",
        f"count_if(_bad IS NULL AND NOT coalesce({passes}, false)) AS ruled",
        f"count_if(_bad IS DISTINCT FROM {_BLANK}) AS read",
        "count_if(_odd) AS unreadable",
    )
    bad_rows: list[BadRow] = []
    if counts["bad"]:
        found = typed_rows.where("_bad >= 0").select("_line", "_bad", "_text", "_f")
        bad_rows = _reasons(key, layout, columns, [tuple(row) for row in found.collect()])
    if counts["ruled"]:
        bad_rows += _ruled(
            typed_rows.where(f"_bad IS NULL AND NOT coalesce({passes}, false)"), key, layout
        )
    bad_rows.sort(key=lambda row: row.line)
    good = typed_rows.where(f"_bad IS NULL AND coalesce({passes}, false)").selectExpr(
        *[_quote(column.name) for column in columns],
        *_absent(layout, columns),
        "_line",
        f"{_literal(key)} AS _file",
    )
    return ClusterRead(good, counts["good"], counts["read"], bad_rows, unknown)


def cluster_counts(frame: Any, name: str, *expressions: str) -> Any:
    """The one row of ``expressions`` (an ``unreadable`` count among them) over ``frame``.

    The file ``name`` goes to the Python reader instead (``NativeReadError``) when the
    cluster cannot read it (a gzip stream Spark cannot open, say) or reads a line of it
    otherwise than the reader would."""
    try:
        counts = frame.selectExpr(*expressions).first()
    except Exception as error:  # noqa: BLE001 (any failure of the cluster's read)
        raise NativeReadError(f"{name}: {str(error).splitlines()[0][:300]}") from error
    if counts["unreadable"]:
        raise NativeReadError(f"{name}: {counts['unreadable']} line(s) Spark reads otherwise")
    return counts


def _utf8_header(head: bytes) -> bytes:
    """The first line as UTF-8 without a byte order mark (a UTF-16LE line ends at the 0x0A
    of its line feed: the 0x00 after it is on the next line)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:]
    if not head.startswith(b"\xff\xfe"):
        return head
    body = head[2:] + (b"\x00" if head.endswith(b"\n") else b"")
    try:
        return body.decode("utf-16-le").encode()
    except UnicodeDecodeError as error:
        raise NativeReadError(f"header: {error}") from error


def _absent(layout: Layout, columns: list[Column]) -> list[str]:
    """With ``layout.every_column``, a NULL for each column the file's header lacks."""
    if not layout.every_column:
        return []
    present = {column.name for column in columns}
    return [
        f"CAST(NULL AS {_SPARK_TYPES.get(column.kind, 'DATE')}) AS {_quote(column.name)}"
        for column in layout.columns
        if column.name not in present
    ]


def _ruled(refused: Any, key: str, layout: Layout) -> list[BadRow]:
    """The rows the rule's condition did not pass, named by the rule's own function; a
    row that function takes after all leaves the file to the pyarrow reader."""
    assert layout.rule is not None
    rule = layout.rule
    rows = []
    for row in refused.select("_line", *[_quote(name) for name in rule.columns]).collect():
        reason, header = rule.problem(*[row[name] for name in rule.columns])
        if reason is None:
            raise NativeReadError(f"{key}: line {row['_line']} passes the rule in Python only")
        rows.append(BadRow(key, row["_line"], header, reason))
    return rows


def with_constants(frame: Any, named: dict[str, Any]) -> Any:
    """A cluster's frame of a file's rows with the columns it gets from its name."""
    from pyspark.sql import functions

    for name, value in named.items():
        frame = frame.withColumn(name, functions.lit(value))
    return frame


def _numbered_lines(spark: Any, url: str) -> Any:
    """The file's lines as rows of (``_line``, ``_text``, ``_odd``, ``_cr``), numbered from 1 (the
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
    cr = f.col("value").endswith("\r").alias("_cr")  # a value's line break in quotes: \r\n
    split = f.spark_partition_id()
    place = f.monotonically_increasing_id() - f.shiftleft(split.cast("long"), 33)
    if read.rdd.getNumPartitions() == 1:
        return read.select((place + 1).alias("_line"), text.alias("_text"), odd, cr)
    counted = dict(read.groupBy(split.alias("split")).count().collect())
    offsets, before = [], 0
    for index in sorted(counted):
        offsets += [f.lit(index), f.lit(before)]
        before += counted[index]
    offset = f.element_at(f.create_map(*offsets), split)
    return read.select((offset + place + 1).alias("_line"), text.alias("_text"), odd, cr)


def _utf16_lines(spark: Any, url: str) -> Any:
    """The lines of a UTF-16LE file with a byte order mark, as ``_numbered_lines`` gives
    them: the file read whole as bytes (one row), decoded and split on the cluster. A file
    whose bytes are no exact UTF-16LE (decoded and encoded again they differ) is ``_odd``."""
    from pyspark.sql import functions as f

    content = spark.read.format("binaryFile").load(url).selectExpr("substr(content, 3) AS body")
    decoded = content.selectExpr("body", "decode(body, 'UTF-16LE') AS text")
    broken = "octet_length(body) % 2 = 1 OR encode(text, 'UTF-16LE') <> body"
    parts = decoded.selectExpr(f"{broken} AS broken", "split(text, '\\n', -1) AS parts")
    lines = parts.selectExpr("broken", "size(parts) AS _count", "posexplode(parts)")
    lines = lines.where("NOT (pos = _count - 1 AND col = '')")  # after the last line break
    text = f.regexp_replace(f.col("col"), "\r\\z", "")
    odd = (
        f.col("broken")
        | (f.octet_length("col") > MAX_LINE_BYTES)
        | (f.instr("col", "\x00") > 0)
        | (f.instr(text, "\r") > 0)
    )
    cr = f.col("col").endswith("\r").alias("_cr")
    return lines.select(
        (f.col("pos") + 1).alias("_line"), text.alias("_text"), odd.alias("_odd"), cr
    )


def _java(pattern: str) -> str:
    """An RE2 pattern of delimited.py as a Java pattern with the same matches."""
    for re2, java in _RE2_CLASSES.items():
        pattern = pattern.replace(re2, java)
    return pattern[:-1] + r"\z" if pattern.endswith("$") else pattern


def _literal(text: str) -> str:
    """A Spark SQL string literal (backslashes are escapes there)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


SPARK = Dialect(
    literal=_literal,
    pattern=_java,
    matches="{value} RLIKE {pattern}",
    cast="TRY_CAST({value} AS {type})",
    finite="abs({value}) <> CAST('Infinity' AS DOUBLE)",
    trim="trim(BOTH {chars} FROM {value})",
    iso_date="TRY_CAST({value} AS DATE)",
    us_date="to_date({value}, 'M/d/yyyy')",
    fifth="substr({value}, 5, 1)",
    first_field=0,
)
_SPARK_TYPES = {"text": "STRING", "int": "BIGINT", "float": "DOUBLE", "amount": "DOUBLE"}


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _split(lines: Any, columns: list[Column], delimiter: str) -> Any:
    """Unquoted text: each line after the header split on the delimiter (``_fast``: the
    whole line has its columns' shapes, nothing to trim)."""
    split = _literal("\\Q" + delimiter + "\\E")
    shape = _literal(_java(_line_shape(columns, delimiter)))
    return lines.where("_line > 1").selectExpr(
        "_line",
        "_text",
        "_odd",
        f"split(_text, {split}, -1) AS _f",
        f"_text RLIKE {shape} AS _fast",
    )


def _records(lines: Any, delimiter: str, numbered_by_last_line: bool = False) -> Any:
    """Quoted text: the lines after the header joined into records (a quoted value may hold
    a line break: a line whose quotes before it are odd in number continues the record),
    numbered as the pyarrow reader numbers them (the header is 1, each record one more,
    blank ones included), and split into fields with their quotes taken off.

    A record that does not have the plain shape (every value either unquoted without a
    quote, or wholly quoted with doubled quotes inside) is marked ``_odd``: the pyarrow
    reader's handling of a stray quote is its own, so such a file is left to it.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as f

    order = Window.orderBy("_line")
    quotes = f.length("_text") - f.length(f.regexp_replace("_text", '"', ""))
    counted = lines.where("_line > 1").select("*", quotes.alias("_q"))
    before = f.sum("_q").over(order) - f.col("_q")
    starts = f.when(before % 2 == 0, 1).otherwise(0)
    numbered = counted.select("*", f.sum(starts).over(order).alias("_record"))
    joined = numbered.groupBy("_record").agg(
        f.array_sort(f.collect_list(f.struct("_line", "_text", "_cr"))).alias("_parts"),
        f.max("_odd").alias("_odd"),
    )
    separator = f"\\x{{{ord(delimiter):x}}}"
    quoted = '"[^"]*+(?:""[^"]*+)*+"'
    plain = f'[^"\\n{separator}]*+'
    value = f"(?:{quoted}|{plain})"
    shape = _literal(f"^{value}(?:{separator}{value})*+\\z")
    fields = _literal(f"{separator}({value})")
    text = "array_join(transform(_parts, part -> part._text), '\\n')"
    unquoted = (
        "transform(_raw, x -> CASE WHEN substr(x, 1, 1) = '\"' "
        "THEN replace(substr(x, 2, length(x) - 2), '\"\"', '\"') ELSE x END)"
    )
    # a line break kept in a quoted value was \r\n where a line before the record's last
    # ended in \r: the reader keeps the \r, these lines lost it
    kept_cr = "exists(slice(_parts, 1, size(_parts) - 1), part -> part._cr)"
    # the csv module numbers a record by its last line
    number = "element_at(_parts, -1)._line" if numbered_by_last_line else "_record + 1"
    records = joined.selectExpr(
        f"{number} AS _line", f"{text} AS _text", f"_odd OR {kept_cr} AS _odd"
    )
    return records.selectExpr(
        "_line",
        "_text",
        f"_odd OR NOT _text RLIKE {shape} AS _odd",
        f"regexp_extract_all({_literal(delimiter)} || _text, {fields}, 1) AS _raw",
    ).selectExpr("_line", "_text", "_odd", f"{unquoted} AS _f", "false AS _fast")


def _checked(fields: Any, columns: list[Column], width: int) -> Any:
    """Every record after the header with ``_bad`` (NULL: a good row; ``_BLANK``; the
    1-based index of the first column refused; ``_WRONG_WIDTH``) and its typed values."""
    space = _literal(WHITESPACE)
    trimmed = fields.selectExpr(
        "_line",
        "_text",
        "_odd",
        "_f",
        "_fast",
        "size(_f) AS _width",
        *trimmed_values(len(columns), SPARK),
    )
    converted = trimmed.selectExpr(
        "_line",
        "_text",
        "_odd",
        "_f",
        "_width",
        *[f"_v{i}" for i in range(len(columns))],
        *[f"{typed(c.kind, f'_v{i}', SPARK)} AS _t{i}" for i, c in enumerate(columns)],
    )
    bad = (
        f"CASE WHEN _width <> {width} THEN "
        f"CASE WHEN trim(BOTH {space} FROM _text) = '' THEN {_BLANK} ELSE {_WRONG_WIDTH} END "
        f"WHEN forall(_f, x -> x = '') THEN {_BLANK} {refusals(columns)} END AS _bad"
    )
    return converted.selectExpr(
        "_line",
        "_text",
        "_odd",
        "_f",
        bad,
        *[f"_t{i} AS {_quote(c.name)}" for i, c in enumerate(columns)],
    )


# -- CSV records checked by a source's own functions (viu-premium) ---------------------------


@dataclass(frozen=True)
class RecordColumn:
    """A column of a CSV read the ``csv`` module's way, for ``read_records_on_cluster``."""

    name: str
    sql_type: str  # its Spark type
    sure: str  # Spark SQL over ``{value}`` (trimmed, non-empty): the typed value where the
    # source's own function surely gives the same, else NULL
    empty_ok: bool  # an empty value is NULL, not an error


def read_records_on_cluster(
    spark: Any,
    url: str,
    key: str,
    head: bytes,
    columns: list[RecordColumn],
    name_record: Any,
) -> ClusterRead:
    """Read a quoted CSV (UTF-8) whose rows the ``csv`` module numbers by their last line
    and checks with a source's functions: the cluster keeps the rows every ``sure`` types;
    the others come back as values and ``name_record(values, line)`` (the source's own
    check) gives their ``BadRow``, or the row, which leaves the file to Python.

    ``head``'s header names are stripped and lower-cased, as the source reads them.
    """
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    try:
        header = next(csv.reader([text.decode().rstrip("\r\n")]))
    except (UnicodeDecodeError, csv.Error, StopIteration) as error:
        raise NativeReadError(f"{key}: header: {error}") from error
    names = [name.strip().lower() for name in header]
    position = {name: index for index, name in enumerate(names)}
    if b"\x00" in head or head.count(b'"') % 2:
        raise NativeReadError(f"{key}: a header Spark would read otherwise")
    records = _records(_numbered_lines(spark, url), ",", numbered_by_last_line=True)
    space = _literal(WHITESPACE)
    values = [
        f"nullif(trim(BOTH {space} FROM _f[{position[c.name]}]), '') AS _v{i}"
        if c.name in position
        else f"CAST(NULL AS STRING) AS _v{i}"
        for i, c in enumerate(columns)
    ]
    typed_values = [
        f"CASE WHEN _v{i} IS NOT NULL THEN {c.sure.replace('{value}', f'_v{i}')} END AS _t{i}"
        for i, c in enumerate(columns)
    ]
    fine = [
        f"(_t{i} IS NOT NULL OR (_v{i} IS NULL AND {str(c.empty_ok).lower()}))"
        for i, c in enumerate(columns)
    ]
    short = f"aggregate(_f, 0L, (total, x) -> total + length(x)) <= {MAX_LINE_BYTES}"
    checked = (
        records.where("_text <> ''")  # an empty line: no record
        .selectExpr("_line", "_odd", "_f", *values)
        .selectExpr(
            "_line",
            "_odd",
            "_f",
            *[f"_v{i}" for i in range(len(columns))],
            *typed_values,
            f"size(_f) = {len(names)} AS _wide",
        )
        .selectExpr(
            "_line",
            "_odd",
            "_f",
            f"_wide AND {short} AND {' AND '.join(fine)} AS _good",
            *[f"_t{i} AS {_quote(c.name)}" for i, c in enumerate(columns)],
        )
    )
    counts = cluster_counts(
        checked, key, "count_if(_good) AS good", "count(*) AS read", "count_if(_odd) AS unreadable"
    )
    bad_rows = []
    if counts["read"] > counts["good"]:
        for line, fields in checked.where("NOT _good").select("_line", "_f").collect():
            named = name_record(list(fields), line)
            if not isinstance(named, BadRow):
                raise NativeReadError(f"{key}: line {line} is good in Python only")
            bad_rows.append(named)
        bad_rows.sort(key=lambda row: row.line)
    good = checked.where("_good").selectExpr(
        *[f"CAST({_quote(c.name)} AS {c.sql_type}) AS {_quote(c.name)}" for c in columns],
        "_line",
        f"{_literal(key)} AS _file",
    )
    unknown = [name for name in names if name not in {c.name for c in columns}]
    return ClusterRead(good, counts["good"], counts["read"], bad_rows, unknown)
