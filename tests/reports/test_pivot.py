"""GETPIVOTDATA → SQL on the fixture, on both warehouse backends."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tally.reports.fact import TABLE
from tally.reports.pivot import PivotError, evaluate, parse, read_date, to_query

SEED = (
    'GETPIVOTDATA ("value",\'Active subscriber\'!$A$5,"Resolution Type","daily",'
    '"Platform","Redemption","Start Date","1/25/2017","Meta 1","Samsung Galaxy Tablet Promotion",'
    '"Meta 2","Redemption Campaign","Meta 4","Paying")'
)


def seed_sql_rows_sum(rows: pa.Table, country: str | None) -> float:
    """The seed's SQL applied literally to the fixture rows with pyarrow, no tally code."""
    mask = pc.and_(
        pc.equal(rows["type"], "Active subscriber"), pc.equal(rows["resolution_type"], "daily")
    )
    for column, value in [
        ("platform", "Redemption"),
        ("meta_1", "Samsung Galaxy Tablet Promotion"),
        ("meta_2", "Redemption Campaign"),
        ("meta_4", "Paying"),
    ]:
        mask = pc.and_(mask, pc.equal(rows[column], value))
    mask = pc.and_(mask, pc.equal(rows["start_date"], dt.date(2017, 1, 25)))
    if country:
        mask = pc.and_(mask, pc.equal(rows["country"], country))
    return pc.sum(rows.filter(mask)["value"]).as_py()


def test_seed_example_spanning_two_countries_names_the_field_to_add(loaded, fact_rows) -> None:
    # The seed's SQL names no country, so literally it adds HK Promotion 10 + HK Retail 5
    # + SG 50000 = 50015: a figure of no country. tally refuses and names the field.
    assert seed_sql_rows_sum(fact_rows, None) == 50015
    with pytest.raises(PivotError) as caught:
        evaluate(loaded, SEED)
    assert caught.value.code == "#VALUE!"
    assert '"Country" (or --country): the items match HK, SG' in caught.value.message
    with_country = SEED[:-1] + ',"Country","SG")'
    assert evaluate(loaded, with_country) == 50000


def test_rows_of_several_resolutions_are_refused(loaded) -> None:
    # HK Redemption Active subscriber: weekly rows (2017-01-09/16/23) and daily rows
    # (2017-01-24/25) both match when neither the date nor the resolution is given.
    formula = (
        '=GETPIVOTDATA("value",\'Active subscriber\'!$A$5,"Platform","Redemption","Country","HK")'
    )
    with pytest.raises(PivotError, match=r'"Resolution Type" \(or --resolution\): .*daily, weekly'):
        evaluate(loaded, formula)
    # Scoped to weekly: 2017-01-09 10 + 01-16 12 + 01-23 15 (the fixture's three weeks).
    weekly = evaluate(loaded, formula, scope={"resolution_type": "weekly"})
    assert weekly == pytest.approx(sum(HK_REDEMPTION_WEEKLY))


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ("2958466", "#NUM!"),
        ("1e300", "#NUM!"),
        ('"2958466"', "#NUM!"),
        ("0", "#NUM!"),
        ('"1e300"', "#NUM!"),
        ("DATE(10000,1,1)", "#NUM!"),
        ("1e999", "#NUM!"),
        ('"13/45/2017"', "#REF!"),
        ("42760.5", "#REF!"),
    ],
    ids=str,
)
def test_bad_date_items_are_excel_errors_not_tracebacks(loaded, item: str, code: str) -> None:
    formula = f'=GETPIVOTDATA("value",Churn!$A$1,"Start Date",{item})'
    with pytest.raises(PivotError) as caught:
        evaluate(loaded, formula)
    assert caught.value.code == code, caught.value.message


def test_last_excel_day_is_a_date() -> None:
    assert read_date(2958465.0) == dt.date(9999, 12, 31)


def test_country_scope_keeps_one_country(loaded, fact_rows) -> None:
    # A Hong Kong workbook's pivot holds HK rows only: 10 + 5.
    assert (
        evaluate(loaded, SEED, scope={"country": "HK"}) == seed_sql_rows_sum(fact_rows, "HK") == 15
    )


def test_seed_sql_is_parameterised() -> None:
    query = to_query(parse(SEED), "Active subscriber")
    assert "Redemption" not in query.sql and "Paying" not in query.sql
    assert query.sql.count("?") == 7
    assert query.params == (
        "Active subscriber",
        "daily",
        "Redemption",
        dt.date(2017, 1, 25),
        "Samsung Galaxy Tablet Promotion",
        "Redemption Campaign",
        "Paying",
    )
    assert query.labels[1:] == (
        "resolution_type",
        "platform",
        "start_date",
        "meta_1",
        "meta_2",
        "meta_4",
    )
    shown = query.display()
    assert "-- 'Samsung Galaxy Tablet Promotion'" in shown and "DATE '2017-01-25'" in shown


@pytest.mark.parametrize("item", ["1/25/2017", "42760", "2017-01-25", "DATE(2017,1,25)"], ids=str)
def test_dates_as_locale_text_serial_iso_or_date(loaded, item: str) -> None:
    # 42760 is the Excel serial of 2017-01-25 (days since 1899-12-30).
    argument = item if item[0].isdigit() and "/" not in item and "-" not in item else None
    written = argument or (item if item.startswith("DATE") else f'"{item}"')
    formula = (
        f'=GETPIVOTDATA("value",\'Active subscriber\'!$A$5,"Start Date",{written},'
        '"Platform","Redemption","Meta 4","Paying","Meta 2","Redemption Campaign",'
        '"Country","HK")'
    )
    assert evaluate(loaded, formula) == 15


def test_day_month_order_is_a_setting() -> None:
    assert read_date("25/1/2017", "DMY") == dt.date(2017, 1, 25)
    assert read_date(42760.0) == dt.date(2017, 1, 25)
    with pytest.raises(PivotError, match="#REF!"):
        read_date("25/1/2017")  # month 25 in M/D/YYYY


HK_REDEMPTION_WEEKLY = (10.0, 12.0, 15.0)

HOSTILE = 'O\'Brien "Gold"; DROP TABLE marts.report_fact; --'


def test_quotes_semicolons_and_sql_in_items_are_only_values(loaded, fact_rows) -> None:
    item = HOSTILE.replace('"', '""')  # Excel doubles quotes inside a text
    formula = f'=GETPIVOTDATA("value",\'Active subscriber\'!$A$5,"Meta 1","{item}")'
    query = to_query(parse(formula), "Active subscriber")
    assert HOSTILE in query.params and "DROP" not in query.sql
    assert evaluate(loaded, formula) == 7  # the one Web row carrying that plan name
    assert loaded.rows(f"SELECT count(*) FROM {TABLE}")[0][0] == fact_rows.num_rows


def test_near_miss_of_hostile_item_is_ref_error(loaded) -> None:
    formula = "=GETPIVOTDATA(\"value\",'Active subscriber'!$A$5,\"Meta 1\",\"x' OR '1'='1\")"
    with pytest.raises(PivotError) as caught:
        evaluate(loaded, formula)
    assert caught.value.code == "#REF!" and "Meta 1" in caught.value.message


def test_unknown_field_sheet_and_combination(loaded) -> None:
    with pytest.raises(PivotError, match=r"#REF! field 'Meta 9'"):
        evaluate(loaded, '=GETPIVOTDATA("value",\'Churn\'!$A$1,"Meta 9","x")')
    with pytest.raises(PivotError, match=r"#REF! sheet 'Pivot'"):
        evaluate(loaded, '=GETPIVOTDATA("value",Pivot!$A$1)')
    with pytest.raises(PivotError, match="combination"):
        # Telco and Retail both exist, never together.
        evaluate(
            loaded,
            '=GETPIVOTDATA("value",\'Active subscriber\'!$A$1,"Platform","Telco",'
            '"Meta 3","Retail")',
        )


def test_malformed_calls_are_value_errors() -> None:
    for formula in [
        "=SUM(A1)",
        '=GETPIVOTDATA("value")',
        '=GETPIVOTDATA("value",\'Churn\'!$A$1,"Platform")',
        "=GETPIVOTDATA(value,'Churn'!$A$1)",
    ]:
        with pytest.raises(PivotError):
            parse(formula)


def test_sheet_name_case_and_mapping(loaded) -> None:
    # Churn weekly HK total: 6 + 1 + 25 + 5 = 37; a pivot sheet mapped to its data sheet.
    formula = '=GETPIVOTDATA("value",\'CHURN\'!$A$1,"Country","HK")'
    assert evaluate(loaded, formula) == 37
    mapped = '=GETPIVOTDATA("value",\'Pivot 1\'!$A$1,"Country","HK")'
    assert evaluate(loaded, mapped, sheet_types={"Pivot 1": "Churn"}) == 37
