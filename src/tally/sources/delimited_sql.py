"""Reading delimited text inside DuckDB, with the same result as ``delimited.read_delimited``.

A warehouse that can open the lake's files itself (DuckDB) reads them here without the rows
ever passing through Python: DuckDB decompresses the file and reads it line by line (one
text column, numbered with ``WITH ORDINALITY``, so every row keeps its file line number),
splits each line on the delimiter, and validates and converts the values in SQL with the
same patterns and the same order of checks as the pyarrow reader. A load (``read_lines``)
inserts the good rows straight from the numbered lines into their partition, so each line is
split, checked and converted once; the lines that did not land are then few, and only those
are checked again to say why (``Lines.refused``). ``stage_delimited`` keeps every checked
row in a temporary table instead. Only the bad rows come back to Python, where their reasons
are written by the same functions the pyarrow reader uses.

Only unquoted layouts are read here (a quoted field may hold the delimiter or a line break,
which a line-by-line reading cannot follow). When DuckDB refuses a file (invalid UTF-8, a
NUL byte, mixed line endings, an unreadable gzip stream) ``NativeReadError`` says so and
the caller reads that file with pyarrow, whose messages name the exact fault.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tally.errors import TallyError
from tally.sources.base import BadRow
from tally.sources.csvtools import GZIP_ERRORS
from tally.sources.delimited import (
    _FLOAT,
    _INT,
    Column,
    Layout,
    read_header,
    value_reason,
    width_reason,
)
from tally.warehouse import FileReadError
from tally.warehouse.sqlfiles import sql_file

# Every character Python's str.strip() and pyarrow's utf8_trim_whitespace both remove
# (Unicode White_Space plus the ASCII separators \x1c-\x1f): the same set, checked once
# against both when this was written.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}$"
_US_DATE = r"^\d{1,2}/\d{1,2}/\d{4}$"
_BLANK = -1  # a line that is neither a row nor an error (empty, or only delimiters)
_WRONG_WIDTH = 0  # otherwise _bad is the 1-based index of the first column refused


def split_work(select: str, parts: int) -> str:
    """The SELECT (whose filter holds ``{part}``) as a UNION ALL of ``parts`` line ranges.

    A file's 100,000 lines fit in one row group, which DuckDB scans on one thread; a UNION
    ALL of parts runs on every core inside ``Warehouse.unordered()`` (which says how many
    parts). Rows carry their line number, so their order is not needed. A load does not
    split its files (one part each): the parts cost more CPU than they saved time (issue 17).
    """
    if parts == 1:
        return select.replace("{part}", "true")
    return " UNION ALL ".join(
        f"({select.replace('{part}', f'_line % {parts} = {index}')})" for index in range(parts)
    )


class NativeReadError(TallyError):
    """DuckDB could not read the file line by line; read it with pyarrow instead."""


@dataclass
class Staged:
    """One file read into a temporary table: its good rows typed, its bad rows named."""

    table: str  # the temporary table: typed columns, _line and _bad (NULL on good rows)
    columns: list[Column]  # the columns in header order, as read
    rows: int  # good rows
    bad_rows: list[BadRow] = field(default_factory=list)
    rows_read: int = 0
    unknown_columns: list[str] = field(default_factory=list)

    def select(self, where: str = "true") -> str:
        """The good rows, typed (in no particular order: each carries its ``_line``)."""
        names = ", ".join(_quote(column.name) for column in self.columns)
        return f"SELECT {names}, _line FROM {self.table} WHERE _bad IS NULL AND {where}"


def can_stage(layout: Layout) -> bool:
    """Layouts this module reads exactly like the pyarrow reader does."""
    return not layout.quoted and len(layout.delimiter) == 1 and layout.delimiter not in "\r\n"


def stage_delimited(
    warehouse: Any, path: str, file_name: str, layout: Layout, table: str
) -> Staged:
    """Read the local (optionally gzip'd) file at ``path`` into the temporary ``table`` of
    a warehouse that reads local files (``capabilities.reads_local_files``).

    Raises ``BadInputError`` as ``read_delimited`` does for a bad header, and
    ``NativeReadError`` when the warehouse cannot read the body.
    """
    with warehouse.session() as connection:  # the temporary tables live as long
        lines = read_lines(warehouse, path, file_name, layout, f"{table}_lines")
        try:
            with warehouse.unordered() as parts:
                select = _staging_sql(lines.table, lines.columns, lines.width, layout.delimiter)
                connection.execute(f"CREATE TEMP TABLE {table} AS {split_work(select, parts)}")
            return _counted(connection, lines, table)
        finally:
            connection.execute(f"DROP TABLE IF EXISTS {lines.table}")


@dataclass
class Lines:
    """One file's lines, numbered but not yet split or checked: in a temporary table, or
    read from the file by the statement that uses them (``read_lines`` without a table).

    A load inserts ``every_line()`` straight into the partition (splitting, checking and
    converting each line once, as it is inserted, the refused ones marked); the lines that
    did not land are then few, and ``refused`` says why for those alone.
    """

    table: str  # the temporary table (_line, 1 = the header, and _text), or a subquery
    file_name: str
    layout: Layout
    columns: list[Column]  # the columns in header order, as read
    width: int  # fields in the header
    rows: int  # lines after the header, blank ones included (0: not read yet)
    unknown_columns: list[str] = field(default_factory=list)
    path: str = ""
    compressed: bool = False

    @property
    def temporary(self) -> bool:
        """Whether the lines are held in a temporary table (to drop when done)."""
        return not self.table.startswith("(")

    def keep(self, warehouse: Any, table: str) -> Lines:
        """These lines read into the temporary ``table`` (the same lines if already held)."""
        if self.temporary:
            return self
        rows = warehouse.read_into(table, _lines_sql(self.path, self.compressed))
        fields = {**self.__dict__, "table": table, "rows": max(rows - 1, 0)}
        return Lines(**fields)

    def every_line(self) -> str:
        """Every line after the header, typed, with its ``_line`` and ``_bad`` (NULL on a
        good row; a refused or blank line has NULL or partial values)."""
        names = ", ".join(_quote(column.name) for column in self.columns)
        typed = _staging_sql(self.table, self.columns, self.width, self.layout.delimiter)
        return f"SELECT {names}, _line, _bad FROM ({typed.replace('{part}', 'true')})"

    def select(self) -> str:
        """The good rows, typed, with their ``_line`` (the lines filter holds ``{part}``,
        for ``split_work``)."""
        names = ", ".join(_quote(column.name) for column in self.columns)
        typed = _staging_sql(self.table, self.columns, self.width, self.layout.delimiter)
        return f"SELECT {names}, _line FROM ({typed}) WHERE _bad IS NULL"

    def refused(self, warehouse: Any, where: str) -> tuple[list[BadRow], int]:
        """The bad rows among the lines that ``where`` (a condition on ``_line``) picks,
        and how many of those lines are blank (neither a row nor an error); in the
        session that read the lines."""
        typed = _staging_sql(self.table, self.columns, self.width, self.layout.delimiter)
        staged = typed.replace("{part}", where)
        found = warehouse.rows(_query("delimited_refused", staged=staged, lines=self.table))
        bad = [(line, index, text) for line, index, text in found if index != _BLANK]
        blank = len(found) - len(bad)
        return _reasons(self.file_name, self.layout, self.columns, bad), blank


def read_lines(
    warehouse: Any, path: str, file_name: str, layout: Layout, table: str | None
) -> Lines:
    """Read the local (optionally gzip'd) file at ``path`` into the temporary ``table``, one
    numbered line a row, in a warehouse that reads local files; without a table, only its
    header now (the statement that uses the lines reads the file: one pass over it).

    Raises ``BadInputError`` as ``read_delimited`` does for a bad header, and
    ``NativeReadError`` (nothing left behind) when the warehouse cannot read the body. The
    table lives as long as the caller's ``session()``.
    """
    compressed, head = _head(path)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    headers, matched, unknown = read_header(head, file_name, layout.columns, layout.delimiter)
    lines = Lines(
        f"({_lines_sql(path, compressed)})",
        file_name,
        layout,
        matched,
        len(headers),
        0,
        unknown,
        path,
        compressed,
    )
    if table is None:
        return lines
    try:
        return lines.keep(warehouse, table)
    except FileReadError as error:
        raise NativeReadError(f"{file_name}: {error}") from error


def _counted(connection: Any, lines: Lines, table: str) -> Staged:
    counts = connection.execute(
        f"SELECT count(*) FILTER (WHERE _bad IS NULL), count(*) FILTER (WHERE _bad >= 0), "
        f"count(*) FILTER (WHERE _bad IS DISTINCT FROM {_BLANK}) FROM {table}"
    ).fetchone()
    rows, bad_count, rows_read = counts
    bad_rows = _bad_rows(connection, lines, table) if bad_count else []
    return Staged(table, lines.columns, rows, bad_rows, rows_read, lines.unknown_columns)


def _head(path: str) -> tuple[bool, bytes]:
    """Whether the file is gzip'd, and its first line (at most 1 MiB of it)."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as text:
            head = text.readline(1 << 20)
    except GZIP_ERRORS as error:
        raise NativeReadError(f"{Path(path).name}: {error}") from error
    if len(head) == 1 << 20:
        raise NativeReadError(f"{Path(path).name}: header line longer than 1 MiB")
    return compressed, head


def constant_columns(named: dict[str, Any]) -> str:
    """``, <value> AS <column>`` for each column a file gets from its name, to follow a
    select list of the file's lines."""
    return "".join(f", {_value(value)} AS {_quote(name)}" for name, value in named.items())


def _value(value: Any) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _literal(str(value))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _lines_sql(path: str, compressed: bool) -> str:
    compression = _literal("gzip" if compressed else "none")
    return _query("delimited_lines", file=_literal(path), compression=compression)


# The shape a valid raw field of each kind has (the patterns of delimited.py, without the
# surrounding whitespace, which lines on the fast path do not have); amounts lose their
# thousands separators before they are checked, so they are always checked value by value.
_SHAPES = {
    "int": r"(-?\d+)?",
    "float": r"(-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)?",
    "date": r"(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4})?",
}


def _line_shape(columns: list[Column], delimiter: str) -> str:
    """A pattern that a whole line matches when every value in it has its kind's shape and
    no value has whitespace at either end (so nothing needs trimming)."""
    separator = f"\\x{{{ord(delimiter):x}}}"
    edge = f"[^{separator}{WHITESPACE.replace(delimiter, '')}]"
    text = f"({edge}([^{separator}]*{edge})?)?"
    return "^" + separator.join(_SHAPES.get(c.kind, text) for c in columns) + "$"


@dataclass(frozen=True)
class Dialect:
    """How one engine spells what the checks need; the checks themselves (``typed``,
    ``refusals``) are written once, for DuckDB here and for Spark in ``delimited_spark``."""

    literal: Callable[[str], str]  # a string literal
    pattern: Callable[[str], str]  # an RE2 pattern of delimited.py in the engine's flavour
    matches: str  # "{value}" matches "{pattern}" (a literal)
    cast: str  # "{value}" as "{type}", NULL if it does not cast
    finite: str  # the DOUBLE "{value}" is not infinite
    trim: str  # "{value}" without the characters of the literal "{chars}" at either end
    iso_date: str  # "{value}" (YYYY-M-D) as a DATE
    us_date: str  # "{value}" (M/D/YYYY) as a DATE, NULL if no such day
    fifth: str  # the fifth character of "{value}"
    first_field: int  # the index of a split line's first field


DUCKDB = Dialect(
    literal=lambda text: "'" + text.replace("'", "''") + "'",
    pattern=lambda pattern: pattern,
    matches="regexp_matches({value}, {pattern})",
    cast="TRY_CAST({value} AS {type})",
    finite="NOT isinf({value})",
    trim="trim({value}, {chars})",
    iso_date="TRY_CAST({value} AS DATE)",
    us_date="CAST(try_strptime({value}, '%m/%d/%Y') AS DATE)",
    fifth="{value}[5]",
    first_field=1,
)


def typed(kind: str, value: str, dialect: Dialect = DUCKDB) -> str:
    """SQL turning a trimmed, non-empty (else NULL) value into its type; NULL if refused.

    Casts accept more than tally does (DuckDB takes '1.5' as an integer, '+1', '1_000'),
    so a cast counts only where the value has the shape: on lines whose whole text has the
    shape (``_fast``, one pattern per line) or, on the others, after a pattern per value.
    """
    if kind == "text":
        return value
    d = dialect

    def matches(pattern: str) -> str:
        return d.matches.format(value=value, pattern=d.literal(d.pattern(pattern)))

    if kind in ("int", "float"):
        cast = d.cast.format(value=value, type="BIGINT" if kind == "int" else "DOUBLE")
        if kind == "float":  # '1e999' casts to infinity: refused, as the pyarrow reader does
            cast = f"CASE WHEN {d.finite.format(value=cast)} THEN {cast} END"
        shape = matches(_INT if kind == "int" else _FLOAT)
        return f"CASE WHEN _fast THEN {cast} WHEN {shape} THEN {cast} END"
    if kind == "amount":
        cleaned = f"replace({value}, ',', '')"
        trimmed = d.trim.format(value=cleaned, chars=d.literal(WHITESPACE))
        cast = d.cast.format(value=trimmed, type="DOUBLE")
        shape = d.matches.format(value=cleaned, pattern=d.literal(d.pattern(_FLOAT)))
        return f"CASE WHEN {shape} AND {d.finite.format(value=cast)} THEN {cast} END"
    if kind == "date":
        iso, us = d.iso_date.format(value=value), d.us_date.format(value=value)
        return (
            f"CASE WHEN _fast THEN CASE WHEN {d.fifth.format(value=value)} = '-' THEN {iso} "
            f"ELSE {us} END WHEN {matches(_ISO_DATE)} THEN {iso} "
            f"WHEN {matches(_US_DATE)} THEN {us} END"
        )
    raise ValueError(f"unknown column kind {kind!r}")


def refusals(columns: list[Column]) -> str:
    """``WHEN <the value of column i is refused> THEN i`` (1-based) for every column that
    can be refused, in order, over ``_v<i>`` (the trimmed value) and ``_t<i>`` (typed)."""
    checks = []
    for i, column in enumerate(columns):
        refused = "false" if column.kind == "text" else f"(_v{i} IS NOT NULL AND _t{i} IS NULL)"
        if column.required:
            refused = f"({refused} OR _v{i} IS NULL)"
        if refused != "false":
            checks.append(f"WHEN {refused} THEN {i + 1}")
    return " ".join(checks)


def trimmed_values(count: int, dialect: Dialect = DUCKDB) -> list[str]:
    """``_v<i>``: each field of ``_f`` trimmed (unless the line is ``_fast``), '' as NULL."""
    space = dialect.literal(WHITESPACE)
    values = []
    for i in range(count):
        field = f"_f[{i + dialect.first_field}]"
        trimmed = dialect.trim.format(value=field, chars=space)
        values.append(f"nullif(CASE WHEN _fast THEN {field} ELSE {trimmed} END, '') AS _v{i}")
    return values


def _staging_sql(lines: str, columns: list[Column], width: int, delimiter: str) -> str:
    space = _literal(WHITESPACE)
    raw = ", ".join(f"_v{i}" for i in range(len(columns)))
    typed_values = ", ".join(f"{typed(c.kind, f'_v{i}')} AS _t{i}" for i, c in enumerate(columns))
    outputs = ", ".join(f"_t{i} AS {_quote(c.name)}" for i, c in enumerate(columns))
    return _query(
        "delimited_staging",
        lines=lines,
        delimiter=_literal(delimiter),
        shape=_literal(_line_shape(columns, delimiter)),
        space=space,
        only_delimiters=_literal(delimiter * (width - 1)),
        width=str(width),
        blank=str(_BLANK),
        wrong_width=str(_WRONG_WIDTH),
        values=", ".join(trimmed_values(len(columns))),
        raw=raw,
        typed=typed_values,
        checks=refusals(columns),
        outputs=outputs,
        part="{part}",
    )


def _query(name: str, **fragments: str) -> str:
    """``sources/queries/<name>.sql`` with its fragments filled."""
    return sql_file("tally.sources", f"queries/{name}.sql", **fragments)


def _bad_rows(connection: Any, lines: Lines, table: str) -> list[BadRow]:
    """The refused rows of a staged table, with their text."""
    found = connection.execute(
        _query("delimited_bad_rows", staged=table, lines=lines.table)
    ).fetchall()
    return _reasons(lines.file_name, lines.layout, lines.columns, found)


def _reasons(
    file_name: str, layout: Layout, columns: list[Column], found: list[tuple[Any, ...]]
) -> list[BadRow]:
    """Bad rows from (line, index of the refused column or _WRONG_WIDTH, text[, values]):
    a quoted reader gives the values with their quotes taken off, else they are the text
    split on the delimiter."""
    rows = []
    for line, index, text, *values in found:
        if index == _WRONG_WIDTH:
            reason = width_reason(
                len(columns), len(values[0] if values else text.split(layout.delimiter))
            )
            rows.append(BadRow(file_name, line, None, reason, text))
            continue
        fields = list(values[0]) if values else text.split(layout.delimiter)
        column = columns[index - 1]
        reason = value_reason(fields[index - 1].strip(), column.kind)
        rows.append(BadRow(file_name, line, column.header, reason, layout.delimiter.join(fields)))
    return rows
