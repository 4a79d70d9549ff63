"""GETPIVOTDATA → SQL: ask the warehouse the question an Excel pivot formula asks.

``GETPIVOTDATA("value",'Active subscriber'!$A$5,"Platform","Redemption",...)`` is read with
openpyxl's formula tokenizer (a real Excel formula lexer, so quotes, doubled quotes and
semicolons inside strings are handled by it, not by us). The sheet names the metric type, each
field/item pair becomes one ``column = ?`` condition, and the query is always parameterised:
item text reaches the warehouse only as a bound value, never as SQL.

Errors follow Excel: an unknown sheet, field or item answers ``#REF!``, a malformed call
``#VALUE!`` and a date serial outside Excel's calendar ``#NUM!``, with a message saying which
part is wrong. Unlike Excel, items that leave several countries, resolutions or currencies in
the answer are an error too (``#VALUE!`` naming the fields to add): a sum of HKD and SGD, or
of daily and monthly rows, is never a figure anybody wants.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tally.errors import TerminalError
from tally.reports.fact import COLUMNS, HEADERS, MONEY_TYPES, TABLE, column_for
from tally.reports.formula import Token, Tokenizer, TokenizerError
from tally.warehouse import Warehouse

EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel's 1900 leap-year bug)
LAST_SERIAL = 2_958_465  # 9999-12-31, the last day Excel's calendar holds
# Fields whose items must leave one value in the answer: (column, header, CLI option).
SINGLE_VALUED = (
    ("country", "Country", "--country"),
    ("resolution_type", "Resolution Type", "--resolution"),
)
CURRENCY = ("meta_5", "Meta 5", None)  # the currency of money rows (see report_fact.sql)
DATE_ORDERS = ("MDY", "DMY", "YMD")
_LEADING_CALL = re.compile(r"^\s*=?\s*GETPIVOTDATA\s*\(", re.IGNORECASE)


class PivotError(TerminalError):
    """A GETPIVOTDATA call Excel would answer with an error value (``code``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class NotOneCall(PivotError):
    """The formula is more than one GETPIVOTDATA call (e.g. ``=IFERROR(GETPIVOTDATA(…),0)``)."""

    def __init__(self, message: str) -> None:
        super().__init__("#VALUE!", message)


@dataclass(frozen=True)
class PivotRequest:
    """What one GETPIVOTDATA call asks: a data field, a pivot (its sheet), field/item pairs."""

    data_field: str
    sheet: str
    cell: str
    items: tuple[tuple[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PivotQuery:
    sql: str
    params: tuple[Any, ...]
    labels: tuple[str, ...]  # the condition each parameter belongs to, for display
    where: str = ""  # the WHERE clause of ``sql``, reused by the ambiguity check

    def display(self) -> str:
        """The SQL with each bound value shown in a comment (display only, never executed)."""
        lines = (self.sql + ";").splitlines()
        values = iter(self.params)
        return "\n".join(
            f"{line:<40} -- {_literal(next(values))}" if "?" in line else line for line in lines
        )


def _literal(value: Any) -> str:
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    text = str(value).replace("'", "''").replace("\n", "\\n")
    return f"'{text}'"


# -- parsing ----------------------------------------------------------------------------


def normalise(formula: str) -> str:
    """The formula as Excel's grammar has it: ``=GETPIVOTDATA(`` with no space (the seed
    writes ``GETPIVOTDATA (``)."""
    return _LEADING_CALL.sub("=GETPIVOTDATA(", formula, count=1).strip()


def parse(formula: str, date_order: str = "MDY") -> PivotRequest:
    """Read a GETPIVOTDATA formula (with or without ``=``) into a request."""
    if date_order not in DATE_ORDERS:
        raise PivotError("#VALUE!", f"date order {date_order!r} is not one of {DATE_ORDERS}")
    if not _LEADING_CALL.match(formula):
        raise NotOneCall("the formula is not a GETPIVOTDATA(...) call")
    try:
        return _parse(formula, date_order)
    except (ValueError, OverflowError, IndexError, TypeError, AttributeError) as error:
        # The tokenizer or a number's conversion tripped on something odd: still Excel's
        # answer for a formula it cannot read, never a traceback.
        raise PivotError("#VALUE!", f"cannot read the formula: {error}") from error


def _parse(formula: str, date_order: str) -> PivotRequest:
    # The seed writes "GETPIVOTDATA (" with a space, which Excel's grammar does not allow.
    text = _LEADING_CALL.sub("=GETPIVOTDATA(", formula, count=1).strip()
    try:
        tokens = [t for t in Tokenizer(text).items if t.type != Token.WSPACE]
    except TokenizerError as error:
        raise PivotError("#VALUE!", f"cannot read the formula: {error}") from error
    arguments = _arguments(tokens)
    if len(arguments) < 2 or len(arguments) % 2:
        raise PivotError(
            "#VALUE!",
            "GETPIVOTDATA takes a data field, a pivot reference, then field/item pairs; "
            f"got {len(arguments)} argument(s)",
        )
    data_field = _text(arguments[0], "data field")
    sheet, cell = _reference(arguments[1])
    pairs = []
    for index in range(2, len(arguments), 2):
        name = _text(arguments[index], f"field name (argument {index + 1})")
        pairs.append((name, _item(arguments[index + 1], name, date_order)))
    return PivotRequest(data_field, sheet, cell, tuple(pairs))


def _arguments(tokens: list[Token]) -> list[list[Token]]:
    """Split the top-level call's arguments; each is the token list of one argument."""
    if not tokens or tokens[0].type != Token.FUNC or tokens[0].subtype != Token.OPEN:
        raise PivotError("#VALUE!", "the formula is not a GETPIVOTDATA(...) call")
    arguments: list[list[Token]] = [[]]
    depth = 0
    for position, token in enumerate(tokens[1:], start=1):
        opens = token.subtype == Token.OPEN and token.type in (Token.FUNC, Token.PAREN)
        closes = token.subtype == Token.CLOSE and token.type in (Token.FUNC, Token.PAREN)
        if closes and depth == 0:
            if position != len(tokens) - 1:
                raise NotOneCall("text after the closing parenthesis of GETPIVOTDATA")
            return arguments if arguments != [[]] else []
        if token.type == Token.SEP and token.subtype == Token.ARG and depth == 0:
            arguments.append([])
            continue
        depth += 1 if opens else -1 if closes else 0
        arguments[-1].append(token)
    raise PivotError("#VALUE!", "GETPIVOTDATA( is never closed")


def _text(argument: list[Token], what: str) -> str:
    if len(argument) == 1 and argument[0].subtype == Token.TEXT:
        return str(argument[0].value)[1:-1].replace('""', '"')
    raise PivotError("#VALUE!", f"the {what} must be a text in double quotes")


def _reference(argument: list[Token]) -> tuple[str, str]:
    if len(argument) != 1 or argument[0].subtype != Token.RANGE:
        raise PivotError(
            "#REF!", "the second argument must be a cell of the pivot, e.g. 'Sheet'!$A$5"
        )
    reference = argument[0].value
    sheet, bang, cell = reference.rpartition("!")
    if not bang:
        raise PivotError("#REF!", f"the pivot reference {reference!r} names no sheet")
    if sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return sheet, cell


def _item(argument: list[Token], name: str, date_order: str) -> Any:
    if len(argument) == 1 and argument[0].subtype == Token.TEXT:
        return argument[0].value[1:-1].replace('""', '"')
    if len(argument) == 1 and argument[0].subtype == Token.NUMBER:
        number = float(argument[0].value)
        if not math.isfinite(number):
            raise PivotError("#NUM!", f"item of {name!r}: {argument[0].value} is not a number")
        return number
    values = [t.value for t in argument]
    if (
        len(argument) == 7
        and values[0].upper() == "DATE("
        and argument[6].subtype == Token.CLOSE
        and all(argument[i].subtype == Token.NUMBER for i in (1, 3, 5))
    ):
        try:
            return dt.date(int(values[1]), int(values[3]), int(values[5]))
        except (ValueError, OverflowError) as error:
            raise PivotError("#NUM!", f"item of {name!r}: {''.join(values)}: {error}") from error
    raise PivotError(
        "#VALUE!",
        f"the item of {name!r} must be a text, a number or DATE(y,m,d); got {''.join(values)}",
    )


# -- dates ------------------------------------------------------------------------------


def read_date(item: Any, date_order: str = "MDY") -> dt.date:
    """An item of the date field: an Excel serial, DATE(), ISO text or text in locale order."""
    if isinstance(item, dt.date):
        return item
    if isinstance(item, float):
        return _serial(item)
    text = str(item).strip()
    if re.fullmatch(r"\d+(\.\d*)?([eE][+-]?\d+)?", text):
        return _serial(float(text))
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    parts = re.fullmatch(r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})", text)
    try:
        if iso:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        if parts:
            numbers = dict(
                zip(date_order, (int(parts[1]), int(parts[2]), int(parts[3])), strict=True)
            )
            year = numbers["Y"] + (2000 if numbers["Y"] < 100 else 0)
            return dt.date(year, numbers["M"], numbers["D"])
    except ValueError as error:
        raise PivotError(
            "#REF!", f"{text!r} is not a date in {date_order} order: {error}"
        ) from error
    raise PivotError(
        "#REF!", f"{text!r} is not a date (expected {date_order} like 1/25/2017 or a serial)"
    )


def _serial(number: float) -> dt.date:
    if not math.isfinite(number) or not 1 <= number <= LAST_SERIAL:
        raise PivotError(
            "#NUM!",
            f"{number:.15g} is outside Excel's dates (serials 1 to {LAST_SERIAL:,}, "
            "1900-01-01 to 9999-12-31)",
        )
    if number != int(number):
        raise PivotError("#REF!", f"{number:g} is not a whole Excel date serial")
    return EXCEL_EPOCH + dt.timedelta(days=int(number))


# -- SQL --------------------------------------------------------------------------------


def to_query(
    request: PivotRequest,
    metric_type: str,
    scope: Mapping[str, Any] | None = None,
    date_order: str = "MDY",
    until: dt.date | None = None,
) -> PivotQuery:
    """The parameterised ``SELECT SUM(value)`` for a request on one metric type.

    ``scope`` adds conditions the pivot's data implies but the formula does not say
    (a country workbook's pivots hold only that country's rows), and ``until`` the last
    period start its data sheets hold.
    """
    if request.data_field.strip().lower() not in ("value", "sum of value"):
        raise PivotError(
            "#REF!", f'data field {request.data_field!r} is not in the pivot (use "value")'
        )
    conditions: list[tuple[str, object]] = [("type", metric_type)]
    conditions += [(column, value) for column, value in (scope or {}).items()]
    for name, item in request.items:
        column = column_for(name)
        if column is None or column == "value":
            known = ", ".join(HEADERS[:-1])
            raise PivotError("#REF!", f"field {name!r} is not in the pivot (fields: {known})")
        if column == "start_date":
            conditions.append((column, read_date(item, date_order)))
        elif isinstance(item, float):
            conditions.append((column, f"{item:g}"))
        elif isinstance(item, dt.date):
            raise PivotError("#REF!", f"field {name!r} holds text, not dates")
        else:
            conditions.append((column, item))
    where = "\n  AND ".join(f"{column} = ?" for column, _ in conditions)
    if until is not None:
        where += "\n  AND start_date <= ?"
        conditions.append(("start_date<=", until))  # a range, not an item: see _explain_empty
    sql = f"SELECT SUM(value) AS value\nFROM {TABLE}\nWHERE {where}"
    return PivotQuery(sql, tuple(v for _, v in conditions), tuple(c for c, _ in conditions), where)


def resolve_type(warehouse: Warehouse, sheet: str, sheet_types: Mapping[str, str] | None) -> str:
    """The metric type a sheet stands for: a mapping's answer, else the sheet's own name."""
    wanted = (sheet_types or {}).get(sheet, sheet)
    types = [str(row[0]) for row in warehouse.rows(f"SELECT DISTINCT type FROM {TABLE}")]
    for known in types:
        if known.lower() == wanted.lower():  # Excel compares sheet names case-insensitively
            return known
    raise PivotError("#REF!", f"sheet {sheet!r} is not a metric type in {TABLE}")


def evaluate(
    warehouse: Warehouse,
    formula: str,
    *,
    scope: Mapping[str, Any] | None = None,
    sheet_types: Mapping[str, str] | None = None,
    date_order: str = "MDY",
) -> float:
    """The number Excel would show for a GETPIVOTDATA formula, read from the warehouse."""
    request = parse(formula, date_order)
    query = to_query(
        request, resolve_type(warehouse, request.sheet, sheet_types), scope, date_order
    )
    return run_query(warehouse, query)


def run_query(warehouse: Warehouse, query: PivotQuery) -> float:
    """Evaluate a query built by ``to_query``; no matching rows is Excel's #REF!, and rows
    of several countries, resolutions or currencies a #VALUE! naming the fields to add."""
    if not query.where:
        total = warehouse.rows(query.sql, list(query.params))[0][0]
    else:
        checked: list[tuple[str, str, str | None]] = [*SINGLE_VALUED]
        if query.params[0] in MONEY_TYPES:
            checked.append(CURRENCY)
        counts = ", ".join(f"COUNT(DISTINCT {column})" for column, _, _ in checked)
        total, *distinct = warehouse.rows(
            f"SELECT SUM(value), {counts} FROM {TABLE} WHERE {query.where}", list(query.params)
        )[0]
        spread = [field for field, count in zip(checked, distinct, strict=True) if count > 1]
        if spread:
            _explain_spread(warehouse, query, spread)
    if total is None:
        _explain_empty(warehouse, query)
    return float(total)


def _explain_spread(
    warehouse: Warehouse, query: PivotQuery, spread: list[tuple[str, str, str | None]]
) -> None:
    """Raise #VALUE! naming each field whose values the answer would add together."""
    parts = []
    for column, header, option in spread:
        found = warehouse.rows(
            f"SELECT DISTINCT {column} FROM {TABLE} WHERE {query.where} ORDER BY 1",
            list(query.params),
        )
        values = ", ".join("(blank)" if row[0] is None else str(row[0]) for row in found)
        hint = f" (or {option})" if option else ""
        parts.append(f'"{header}"{hint}: the items match {values}')
    raise PivotError(
        "#VALUE!",
        "the answer would add up rows that must not be added; add the field "
        + "; add the field ".join(parts),
    )


def _explain_empty(warehouse: Warehouse, query: PivotQuery) -> None:
    """Raise #REF! naming the first item the data does not hold (or the combination)."""
    metric_type = query.params[0]
    for column, value in zip(query.labels[1:], query.params[1:], strict=True):
        if column.endswith("<="):
            continue
        found = warehouse.rows(
            f"SELECT count(*) FROM {TABLE} WHERE type = ? AND {column} = ?", [metric_type, value]
        )[0][0]
        if not found:
            header = HEADERS[COLUMNS.index(column)]
            raise PivotError(
                "#REF!", f"item {_literal(value)} is not in field {header!r} of {metric_type!r}"
            )
    raise PivotError("#REF!", f"no {metric_type!r} rows hold this combination of items")
