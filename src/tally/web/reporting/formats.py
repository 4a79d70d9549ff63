"""Answers written as Matomo writes them: json, csv, tsv and xml.

An answer is a report (one row dict, or a list of rows), or, for several periods or sites,
a dict keyed by period label or idSite holding reports. CSV and TSV put those keys in
leading ``idSite``/``date`` columns; XML nests ``<result date="...">`` in ``<results>``.
Like Matomo, CSV and TSV come as UTF-16LE with a byte-order mark (what Excel opens
correctly) unless ``convertToUnicode=0`` asks for UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from tally.errors import BadInputError

FORMATS = ("json", "csv", "tsv", "xml")
NO_DATA = "No data available"


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str


@dataclass(frozen=True)
class Keyed:
    """Answers for several periods or sites: ``key`` names the column (date or idSite)."""

    key: str
    answers: dict[str, object]


def render(answer: object, output: str, *, unicode_bom: bool = True) -> Rendered:
    """``answer`` in the format ``output`` (json, csv, tsv or xml)."""
    output = output.lower()
    if output == "json":
        return Rendered(_json(answer).encode("utf-8"), "application/json")
    if output in ("csv", "tsv"):
        text = _table(answer, "," if output == "csv" else "\t")
        if unicode_bom:
            return Rendered(
                b"\xff\xfe" + text.encode("utf-16-le"), f"text/{output}; charset=utf-16le"
            )
        return Rendered(text.encode("utf-8"), f"text/{output}; charset=utf-8")
    if output == "xml":
        return Rendered(_xml(answer).encode("utf-8"), "text/xml; charset=utf-8")
    raise BadInputError(f"format must be one of {', '.join(FORMATS)}", field="format")


def render_error(message: str, output: str) -> Rendered:
    """An error as Matomo reports one in each format."""
    output = output.lower() if output.lower() in FORMATS else "json"
    if output == "xml":
        body = f"{_HEAD}<result>\n\t<error message={quoteattr(message)} />\n</result>"
        return Rendered(body.encode("utf-8"), "text/xml; charset=utf-8")
    if output in ("csv", "tsv"):
        return Rendered(f"Error: {message}".encode(), "text/plain; charset=utf-8")
    return Rendered(
        _json({"result": "error", "message": message}).encode("utf-8"), "application/json"
    )


def plain(answer: object) -> object:
    """``answer`` with every ``Keyed`` turned into its dict (what JSON shows)."""
    if isinstance(answer, Keyed):
        return {key: plain(value) for key, value in answer.answers.items()}
    return answer


def _json(answer: object) -> str:
    return json.dumps(plain(answer), ensure_ascii=False, separators=(",", ":"))


# -- csv and tsv -------------------------------------------------------------------------


def _table(answer: object, separator: str) -> str:
    records = list(_records(answer, {}))
    if not records:
        return NO_DATA
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record.get(column)) for column in columns])
    return buffer.getvalue().rstrip("\n")


def _records(answer: object, keys: dict[str, str]) -> list[dict[str, object]]:
    if isinstance(answer, Keyed):
        found = []
        for key, value in answer.answers.items():
            found.extend(_records(value, {**keys, answer.key: key}))
        return found
    if isinstance(answer, dict):
        return [{**keys, **answer}]
    if isinstance(answer, list):
        return [{**keys, **row} for row in answer]
    return [{**keys, "value": answer}]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)  # a nested report, readable in one cell
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value)
    if not isinstance(value, int | float) and text[:1] in ("=", "+", "-", "@"):
        # A spreadsheet would run it as a formula (CSV injection): keep it text, as Matomo does.
        return "'" + text
    return text


# -- xml ---------------------------------------------------------------------------------

_HEAD = '<?xml version="1.0" encoding="utf-8" ?>\n'


def _xml(answer: object) -> str:
    if isinstance(answer, Keyed):
        parts = [
            f"\t<result {answer.key}={quoteattr(key)}"
            + _xml_body(value, depth=2, closing="\t</result>")
            for key, value in answer.answers.items()
        ]
        return _HEAD + "<results>\n" + "\n".join(parts) + "\n</results>"
    return _HEAD + "<result" + _xml_body(answer, depth=1, closing="</result>")


def _xml_body(answer: object, depth: int, closing: str) -> str:
    """The rest of an opened ``<result`` tag: `` />`` when empty, else children and close."""
    lines = _xml_lines(answer, depth)
    if not lines:
        return " />"
    return ">\n" + "\n".join(lines) + "\n" + closing


def _xml_lines(answer: object, depth: int) -> list[str]:
    tabs = "\t" * depth
    if isinstance(answer, Keyed):
        return [
            f"{tabs}<result {answer.key}={quoteattr(key)}"
            + _xml_body(value, depth + 1, closing=f"{tabs}</result>")
            for key, value in answer.answers.items()
        ]
    if isinstance(answer, dict):
        return [_xml_field(name, value, tabs) for name, value in answer.items()]
    if isinstance(answer, list):
        lines = []
        for row in answer:
            lines.append(f"{tabs}<row>")
            lines.extend(_xml_field(name, value, tabs + "\t") for name, value in row.items())
            lines.append(f"{tabs}</row>")
        return lines
    return [f"{tabs}{escape(str(answer))}"]


def _xml_field(name: str, value: object, tabs: str) -> str:
    if isinstance(value, dict | list) and value:
        # a nested report (a visit's actionDetails, a flow's subtable): child elements
        inner = _xml_lines(value, len(tabs) + 1)
        return f"{tabs}<{name}>\n" + "\n".join(inner) + f"\n{tabs}</{name}>"
    if value is None or value == "" or value == [] or value == {}:
        return f"{tabs}<{name} />"
    return f"{tabs}<{name}>{escape(_cell_text(value))}</{name}>"


def _cell_text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
