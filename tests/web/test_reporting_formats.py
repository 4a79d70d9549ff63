"""Answers rendered as Matomo renders them: json, csv/tsv (UTF-16LE or UTF-8), xml."""

from __future__ import annotations

import json

import pytest

from tally.errors import BadInputError
from tally.web.reporting.formats import Keyed, render, render_error

ROWS = [
    {"label": "Direct Entry", "nb_visits": 2, "bounce_rate": "50%"},
    {"label": '=HYPERLINK("http://evil")', "nb_visits": 1, "bounce_rate": "0%"},
]
SUMMARY = {"nb_visits": 4, "bounce_rate": "50%", "nb_actions_per_visit": 2.5}


def text(answer: object, output: str) -> str:
    return render(answer, output, unicode_bom=False).body.decode("utf-8")


def test_json_keeps_matomos_shapes() -> None:
    assert json.loads(text(SUMMARY, "json")) == SUMMARY
    assert json.loads(text(ROWS, "json")) == ROWS
    keyed = Keyed("date", {"2026-03-01": [], "2026-03-02": ROWS[:1]})
    assert json.loads(text(keyed, "json")) == {"2026-03-01": [], "2026-03-02": ROWS[:1]}


def test_csv_has_a_header_and_guards_formulas() -> None:
    assert text(ROWS, "csv").splitlines() == [
        "label,nb_visits,bounce_rate",
        "Direct Entry,2,50%",
        # a cell a spreadsheet would run as a formula is kept as text with a leading quote
        '"\'=HYPERLINK(""http://evil"")",1,0%',
    ]
    assert text(SUMMARY, "tsv").splitlines() == [
        "nb_visits\tbounce_rate\tnb_actions_per_visit",
        "4\t50%\t2.5",
    ]
    assert text([], "csv") == "No data available"


def test_csv_of_several_periods_leads_with_the_date() -> None:
    keyed = Keyed("date", {"2026-03-01": {"nb_visits": 0}, "2026-03-02": {"nb_visits": 4}})
    assert text(keyed, "csv").splitlines() == ["date,nb_visits", "2026-03-01,0", "2026-03-02,4"]
    sites = Keyed("idSite", {"1": keyed, "2": Keyed("date", {"2026-03-01": {"nb_visits": 7}})})
    assert text(sites, "csv").splitlines()[:2] == ["idSite,date,nb_visits", "1,2026-03-01,0"]


def test_csv_is_utf16_with_a_bom_by_default() -> None:
    rendered = render([{"label": "Zürich"}], "csv")
    assert rendered.body == b"\xff\xfe" + "label\nZürich".encode("utf-16-le")
    assert "utf-16le" in rendered.media_type


def test_xml_of_a_table_a_row_and_several_periods() -> None:
    assert text(ROWS[:1], "xml") == (
        '<?xml version="1.0" encoding="utf-8" ?>\n<result>\n\t<row>\n'
        "\t\t<label>Direct Entry</label>\n\t\t<nb_visits>2</nb_visits>\n"
        "\t\t<bounce_rate>50%</bounce_rate>\n\t</row>\n</result>"
    )
    assert text({"nb_visits": 4, "label": "a<b & c"}, "xml") == (
        '<?xml version="1.0" encoding="utf-8" ?>\n<result>\n'
        "\t<nb_visits>4</nb_visits>\n\t<label>a&lt;b &amp; c</label>\n</result>"
    )
    keyed = Keyed("date", {"2026-03-01": [], "2026-03-02": {"nb_visits": 4}})
    assert text(keyed, "xml") == (
        '<?xml version="1.0" encoding="utf-8" ?>\n<results>\n'
        '\t<result date="2026-03-01" />\n'
        '\t<result date="2026-03-02">\n\t\t<nb_visits>4</nb_visits>\n\t</result>\n</results>'
    )


def test_errors_in_each_format() -> None:
    assert json.loads(render_error("no such site", "json").body) == {
        "result": "error",
        "message": "no such site",
    }
    assert b'<error message="a &lt; b" />' in render_error("a < b", "xml").body
    assert render_error("boom", "csv").body == b"Error: boom"
    with pytest.raises(BadInputError, match="format must be one of"):
        render([], "yaml")


def test_nested_reports_nest_in_xml_and_are_json_in_csv() -> None:
    # a visitor-log row: its actionDetails are rows of their own
    visit = [{"idVisit": "v1", "actionDetails": [{"type": "action", "url": "/a"}], "tags": []}]
    assert text(visit, "xml").splitlines()[2:] == [
        "\t<row>",
        "\t\t<idVisit>v1</idVisit>",
        "\t\t<actionDetails>",
        "\t\t\t<row>",
        "\t\t\t\t<type>action</type>",
        "\t\t\t\t<url>/a</url>",
        "\t\t\t</row>",
        "\t\t</actionDetails>",
        "\t\t<tags />",
        "\t</row>",
        "</result>",
    ]
    # Transitions: a dict of figures nests as elements too
    assert "\t<pageMetrics>\n\t\t<loops>1</loops>\n\t</pageMetrics>" in text(
        {"pageMetrics": {"loops": 1}}, "xml"
    )
    lines = text(visit, "csv").splitlines()
    assert lines[1] == 'v1,"[{""type"": ""action"", ""url"": ""/a""}]",[]'
