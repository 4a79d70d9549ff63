"""Reading delimited text (CSV, Apple's TSV) into typed Arrow, keeping every bad row.

Parsing is vectorised with pyarrow (C++): every value is read as text, then each column is
validated and converted as a whole. Rows with the wrong number of fields, and rows with a
value that does not convert, become ``BadRow``s naming the file, line and field; every other
row is kept. Headers match case-insensitively and by known older spellings; a header we do
not know is kept as a text column named ``x_<header>``; a missing required header fails the
whole file with a message naming it.

Before pyarrow sees the body, a line that is not valid UTF-8 or is longer than
``MAX_LINE_BYTES`` becomes a bad row of its own (and a blank line in the text handed on, so
line numbers stay right): one bad byte once failed the whole file. A UTF-16 file (by its
BOM, or NULs in every other byte) is decoded as UTF-16 first, never read as garbage.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tally.errors import BadInputError
from tally.sources import csvtools
from tally.sources.base import BadRow, Parsed

KINDS = ("text", "int", "float", "amount", "date")
# A line longer than this is quarantined unread (a 10 MB line once ended a load in a traceback)
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True)
class Column:
    header: str  # the origin's own column name
    name: str  # tally's snake_case name
    kind: str = "text"
    required: bool = False  # the header must be present and the value non-empty
    aliases: tuple[str, ...] = ()

    def matches(self, header: str) -> bool:
        wanted = _fold(header)
        return wanted == _fold(self.header) or any(wanted == _fold(a) for a in self.aliases)


@lru_cache(maxsize=4096)
def _fold(header: str) -> str:
    return " ".join(header.strip().lower().split())


def snake(header: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


def _match_headers(
    headers: list[str], columns: tuple[Column, ...] | list[Column], file_name: str
) -> tuple[list[Column], list[str]]:
    matched: list[Column] = []
    unknown: list[str] = []
    for header in headers:
        column = next((c for c in columns if c.matches(header)), None)
        if column is None:
            unknown.append(header)
            column = Column(header, "x_" + snake(header))
        matched.append(column)
    present = {c.name for c in matched}
    for column in columns:
        if column.required and column.name not in present:
            raise BadInputError(
                f"required column {column.header!r} is missing (header has: {', '.join(headers)})",
                file=file_name,
                line=1,
                field=column.header,
            )
    return matched, unknown


@dataclass(frozen=True)
class RowRule:
    """A check of a dataset's typed rows beyond its columns' kinds (``apply_rule``).

    ``problem`` takes the values of ``columns`` and says (reason, header) or (None, None);
    ``passes`` is a Spark SQL condition on those columns that holds only where ``problem``
    finds nothing (it may refuse more: those rows are named by ``problem``).
    """

    columns: tuple[str, ...]
    problem: Callable[..., tuple[str | None, str | None]]
    passes: str


@dataclass(frozen=True)
class Layout:
    """How a dataset's raw files are laid out: its columns and the delimiter between them.

    A dataset that declares one can be read by ``read_delimited`` or, on DuckDB, by
    ``delimited_sql.stage_delimited`` (unquoted layouts) or, on Spark, by
    ``delimited_spark.read_on_cluster`` with the same result. ``every_column``: the columns
    a file's header lacks are added as NULLs; ``rule``: a further check of the rows.
    """

    columns: tuple[Column, ...]
    delimiter: str = ","
    quoted: bool = False
    every_column: bool = False
    rule: RowRule | None = None


def apply_rule(parsed: Parsed, rule: RowRule, file_name: str) -> Parsed:
    """The parsed rows without those the rule refuses, which become bad rows (no raw text),
    all bad rows in line order."""
    table = parsed.table
    values = [table.column(name).to_pylist() for name in rule.columns]
    lines = table.column("_line").to_pylist()
    keep = []
    for line, *row in zip(lines, *values, strict=True):
        reason, header = rule.problem(*row)
        keep.append(reason is None)
        if reason is not None:
            parsed.bad_rows.append(BadRow(file_name, line, header, reason))
    if not all(keep):
        parsed.table = table.filter(pa.array(keep))
        parsed.bad_rows.sort(key=lambda row: row.line)
    return parsed


def read_header(
    data: bytes, file_name: str, columns: tuple[Column, ...] | list[Column], delimiter: str
) -> tuple[list[str], list[Column], list[str]]:
    """The file's headers, the column each one is read as, and the headers we do not know.

    ``data`` is the file (or at least its first line), BOM already removed.
    """
    header_end = data.find(b"\n")
    try:
        header_line = (data if header_end < 0 else data[:header_end]).decode().rstrip("\r")
    except UnicodeDecodeError as error:
        raise BadInputError(f"not valid UTF-8 ({error.reason})", file=file_name, line=1) from None
    if not header_line.strip():
        raise BadInputError("the file is empty: no header line", file=file_name, line=1)
    headers = header_line.split(delimiter)
    matched, unknown = _match_headers(headers, columns, file_name)
    return headers, matched, unknown


def width_reason(expected: int, found: int) -> str:
    return f"expected {expected} fields, found {found}"


def value_reason(value: str, kind: str) -> str:
    """Why a (trimmed) value was refused."""
    if value == "":
        return "missing value"
    if kind == "int" and re.fullmatch(_INT, value):
        return f"out of range for a 64-bit integer: {value[:40]!r}"
    if kind in ("float", "amount") and re.fullmatch(_FLOAT, value.replace(",", "")):
        return f"out of range for a 64-bit float: {value[:40]!r}"
    return f"not a {kind}: {value[:200]!r}"


def screen_lines(data: bytes, file_name: str, first: int = 2) -> tuple[bytes, list[BadRow]]:
    """The body with every line that is not UTF-8 or is over ``MAX_LINE_BYTES`` emptied, and
    a bad row for each (``first`` is the file line number of the body's first line)."""
    long_line = len(data) > MAX_LINE_BYTES and _longest_line(data) > MAX_LINE_BYTES
    try:
        data.decode("utf-8")
        if not long_line:
            return data, []
    except UnicodeDecodeError:
        pass
    lines = data.split(b"\n")
    bad: list[BadRow] = []
    for index, line in enumerate(lines):
        if len(line) > MAX_LINE_BYTES:
            reason = f"line of {len(line):,} bytes, over the limit of {MAX_LINE_BYTES:,}"
        else:
            try:
                line.decode("utf-8")
                continue
            except UnicodeDecodeError as error:
                reason = f"not valid UTF-8 ({error.reason} at byte {error.start} of the line)"
        raw = line[:2000].decode("utf-8", errors="replace")
        bad.append(BadRow(file_name, first + index, None, reason, raw))
        lines[index] = b""
    return b"\n".join(lines), bad


def _longest_line(data: bytes) -> int:
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    bounds = np.concatenate(([-1], ends, [len(data)]))
    return int(np.diff(bounds).max()) - 1


def read_delimited(
    data: bytes,
    file_name: str,
    columns: tuple[Column, ...] | list[Column],
    delimiter: str = ",",
    quoted: bool = False,
) -> Parsed:
    """Parse one file whose first line is a header (UTF-8, or UTF-16 by its bytes; a BOM is
    dropped)."""
    data = csvtools.to_utf8(data, file_name)
    header_end = data.find(b"\n")
    if (header_end < 0 and len(data) > MAX_LINE_BYTES) or header_end > MAX_LINE_BYTES:
        message = f"header line over the limit of {MAX_LINE_BYTES:,} bytes"
        raise BadInputError(message, file=file_name, line=1)
    headers, matched, unknown = read_header(data, file_name, columns, delimiter)
    body = b"" if header_end < 0 else data[header_end + 1 :]
    body, unreadable = screen_lines(body, file_name)
    try:
        raw_table, skipped = _read_text(body, len(headers), delimiter, quoted)
    except pa.ArrowInvalid as error:  # e.g. a quote left open to the end of the file
        message = f"not readable as delimited text: {str(error).splitlines()[0]}"
        raise BadInputError(message, file=file_name) from None
    lines = _good_row_lines(raw_table.num_rows, skipped)
    bad_rows = [
        BadRow(file_name, line, None, width_reason(len(headers), found), text)
        for line, found, text in skipped
        if text.strip()
    ]
    bad_rows += unreadable
    typed, invalid = _convert(raw_table, matched, file_name, lines, bad_rows, delimiter)
    blank_count = int(_blank_rows(raw_table).sum())
    keep = pa.array(~invalid) if invalid.any() else None
    table = pa.Table.from_arrays(
        [*typed, pa.array(lines, pa.int64())],
        names=[c.name for c in matched] + ["_line"],
    )
    if keep is not None:
        table = table.filter(keep)
    bad_rows.sort(key=lambda row: row.line)
    real_skips = sum(1 for _, _, text in skipped if text.strip()) + len(unreadable)
    return Parsed(table, bad_rows, raw_table.num_rows - blank_count + real_skips, unknown)


def _read_text(
    body: bytes, width: int, delimiter: str, quoted: bool
) -> tuple[pa.Table, list[tuple[int, int, str]]]:
    """Every field as text; rows of the wrong width are set aside with their line number."""
    skipped: list[tuple[int, int, str]] = []

    def set_aside(row: pacsv.InvalidRow) -> str:
        # pyarrow numbers rows of the body from 1; the header is line 1 of the file
        skipped.append((row.number + 1, row.actual_columns, row.text))
        return "skip"

    names = [f"c{i}" for i in range(width)]
    if not body.strip():  # a header-only file (a day with no rows) is valid and empty
        return pa.table({name: pa.array([], pa.string()) for name in names}), skipped
    table = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=64 << 20),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char='"' if quoted else False,
            ignore_empty_lines=False,
            invalid_row_handler=set_aside,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, skipped


def _good_row_lines(count: int, skipped: list[tuple[int, int, str]]) -> np.ndarray:
    """File line numbers of the rows that were read, given the lines set aside."""
    total = count + len(skipped)
    lines = np.arange(2, total + 2, dtype=np.int64)
    if skipped:
        mask = np.ones(total, dtype=bool)
        mask[[line - 2 for line, _, _ in skipped]] = False
        lines = lines[mask]
    return lines


# ISO dates and Apple's/Excel's US month/day/year, each checked field by field: pyarrow's
# strptime rolls impossible dates over (2016-02-30 → 2016-03-01) instead of refusing them.
_DATE_FORMATS = (
    (r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$", "%Y-%m-%d"),
    (r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$", "%m/%d/%Y"),
)


def _dates(text: pa.Array) -> pa.Array:
    """Dates from text in any known format; null where the text is no real date."""
    result = pa.nulls(len(text), pa.date32())
    for pattern, layout in _DATE_FORMATS:
        parts = pc.extract_regex(text, pattern)
        stamp = pc.strptime(text, format=layout, unit="s", error_is_null=True)
        real = pc.and_(
            pc.equal(pc.year(stamp), pc.cast(pc.struct_field(parts, "y"), pa.int64())),
            pc.and_(
                pc.equal(pc.month(stamp), pc.cast(pc.struct_field(parts, "m"), pa.int64())),
                pc.equal(pc.day(stamp), pc.cast(pc.struct_field(parts, "d"), pa.int64())),
            ),
        )
        found = pc.if_else(pc.fill_null(real, False), pc.cast(stamp, pa.date32()), None)
        result = pc.coalesce(result, found)
    return result


def _blank_rows(raw: pa.Table) -> np.ndarray:
    blank = np.ones(raw.num_rows, dtype=bool)
    for column in raw.columns:
        blank &= pc.equal(column, "").to_numpy(zero_copy_only=False)
    return blank


_INT = r"^\s*-?\d+\s*$"
_FLOAT = r"^\s*-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"


def _convert(
    raw: pa.Table,
    columns: list[Column],
    file_name: str,
    lines: np.ndarray,
    bad_rows: list[BadRow],
    delimiter: str,
) -> tuple[list[pa.Array], np.ndarray]:
    """Typed arrays for every column, and which rows hold a value that did not convert."""
    invalid = _blank_rows(raw)  # a blank line is neither data nor an error
    arrays = []
    for index, column in enumerate(columns):
        text = pc.utf8_trim_whitespace(raw.column(index).combine_chunks())
        empty = pc.equal(text, "")
        converted, failed = _convert_column(text, empty, column.kind)
        if column.required:
            failed = pc.or_(failed, empty)
        failed_np = failed.to_numpy(zero_copy_only=False)
        for row in np.flatnonzero(failed_np & ~invalid):
            reason = value_reason(text[int(row)].as_py(), column.kind)
            raw_line = delimiter.join(
                str(raw.column(i)[int(row)].as_py()) for i in range(len(columns))
            )
            bad_rows.append(BadRow(file_name, int(lines[row]), column.header, reason, raw_line))
        invalid |= failed_np
        arrays.append(converted)
    return arrays, invalid


def _fits_int64(text: pa.Array) -> pa.Array:
    """False where an integer's text is out of the 64-bit range (only values of 19 digits
    or more are looked at one by one)."""
    long = pc.fill_null(pc.greater_equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 19), False)
    fits = np.ones(len(text), dtype=bool)
    for row in np.flatnonzero(long.to_numpy(zero_copy_only=False)):
        value = text[int(row)].as_py().strip()
        if re.fullmatch(_INT, value):  # int() of thousands of digits is refused, hence len
            fits[row] = len(value) <= 20 and -(2**63) <= int(value) < 2**63
    return pa.array(fits)


def _convert_column(text: pa.Array, empty: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    null_if_empty = pc.if_else(empty, pa.scalar(None, pa.string()), text)
    if kind == "text":
        return null_if_empty, pa.array(np.zeros(len(text), dtype=bool))
    if kind in ("int", "float", "amount"):
        cleaned = (
            pc.replace_substring(null_if_empty, ",", "") if kind == "amount" else null_if_empty
        )
        pattern = _INT if kind == "int" else _FLOAT
        ok = pc.match_substring_regex(cleaned, pattern)
        if kind == "int":
            ok = pc.and_(ok, _fits_int64(cleaned))
        failed = pc.and_(pc.invert(empty), pc.invert(pc.fill_null(ok, False)))
        usable = pc.if_else(ok, cleaned, pa.scalar(None, pa.string()))
        if kind == "int":
            return pc.cast(pc.utf8_trim_whitespace(usable), pa.int64()), failed
        numbers = pc.cast(pc.utf8_trim_whitespace(usable), pa.float64())
        infinite = pc.fill_null(pc.is_inf(numbers), False)  # "1e999": past a double's range
        numbers = pc.if_else(infinite, pa.scalar(None, pa.float64()), numbers)
        return numbers, pc.or_(failed, infinite)
    if kind == "date":
        parsed = _dates(null_if_empty)
        failed = pc.and_(pc.invert(empty), pc.is_null(parsed))
        return parsed, failed
    raise ValueError(f"unknown column kind {kind!r}; expected one of {KINDS}")
