"""A data sheet's rows as SpreadsheetML, built column by column with Arrow compute.

XlsxWriter spends about 50 µs of Python per cell (type dispatch, escaping, bookkeeping);
a data sheet's cells are only text, one date and one number per row, so tally writes the
header, the Table and the column formats with XlsxWriter and streams the body rows itself:
each column becomes an array of ``<c>`` elements in one vectorised pass, rows are joined the
same way, and the text goes into the package in chunks (memory does not grow with rows).

Cells are what XlsxWriter writes in constant-memory mode: in-line strings with
``xml:space="preserve"``, dates as serial numbers with the column's date style, numbers as
their shortest round-trip text; empty text and missing values are no cell at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from xlsxwriter.utility import xl_col_to_name

EXCEL_DAY_OF_EPOCH = 25569  # serial of 1970-01-01 (days since 1899-12-30)
BATCH_ROWS = 20_000
# Characters XML 1.0 cannot hold, and text Excel would read as one of its _xHHHH_ escapes.
_NEEDS_ESCAPE = r"[\x00-\x08\x0b\x0c\x0e-\x1f]|_x[0-9A-Fa-f]{4}_"
_ESCAPE = re.compile(_NEEDS_ESCAPE)


def _escape_text(column: pa.Array) -> pa.Array:
    """XML-escaped text; the escaping runs over the column's distinct values only (report
    columns hold a few dozen plan, platform and channel names over many rows)."""
    text = pc.fill_null(column.cast(pa.string()), "")
    encoded = text.dictionary_encode()
    return pc.take(_escape_values(encoded.dictionary), encoded.indices)


def _escape_values(text: pa.Array) -> pa.Array:
    if pc.any(pc.match_substring_regex(text, _NEEDS_ESCAPE)).as_py():
        text = pa.array([_escape_odd(value) for value in text.to_pylist()], pa.string())
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = pc.replace_substring(text, raw, escaped)
    return text


def _escape_odd(value: str) -> str:
    """Control characters as Excel's _xHHHH_, and a literal _xHHHH_ kept literal."""
    return _ESCAPE.sub(
        lambda m: "_x005F" + m.group() if len(m.group()) > 1 else f"_x{ord(m.group()):04X}_",
        value,
    )


def _cells(column: pa.Array, letter: str, rows: pa.Array, style: int | None) -> pa.Array:
    """One ``<c>`` per row of ``column`` (an empty string where there is no cell)."""
    styled = f' s="{style}"' if style else ""
    if pa.types.is_date(column.type):
        serial = pc.add(column.cast(pa.int32()), EXCEL_DAY_OF_EPOCH).cast(pa.string())
        cells = pc.binary_join_element_wise(
            f'<c r="{letter}', rows, f'"{styled}><v>', serial, "</v></c>", ""
        )
        return pc.fill_null(cells, "")
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        finite = pc.fill_null(pc.is_finite(column.cast(pa.float64())), False)
        text = pc.if_else(finite, column.cast(pa.string()), pa.scalar(None, pa.string()))
        cells = pc.binary_join_element_wise(
            f'<c r="{letter}', rows, f'"{styled}><v>', text, "</v></c>", ""
        )
        return pc.fill_null(cells, "")
    text = _escape_text(column)
    cells = pc.binary_join_element_wise(
        f'<c r="{letter}',
        rows,
        f'"{styled} t="inlineStr"><is><t xml:space="preserve">',
        text,
        "</t></is></c>",
        "",
    )
    return pc.if_else(pc.equal(text, ""), "", cells)


def rows_xml(
    table: pa.Table, first_row: int, styles: dict[int, int] | None = None
) -> Iterator[bytes]:
    """``<row>`` elements for every row of ``table``, the first numbered ``first_row``
    (1-based); ``styles`` maps a column index to its cell style (xf) index."""
    styles = styles or {}
    letters = [xl_col_to_name(index) for index in range(table.num_columns)]
    start = first_row
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        if batch.num_rows == 0:
            continue
        rows = pa.array(range(start, start + batch.num_rows), pa.int64()).cast(pa.string())
        cells = [
            _cells(batch.column(index), letters[index], rows, styles.get(index))
            for index in range(batch.num_columns)
        ]
        joined = pc.binary_join_element_wise('<row r="', rows, '">', *cells, "</row>", "")
        yield "".join(joined.to_pylist()).encode("utf-8")
        start += batch.num_rows
