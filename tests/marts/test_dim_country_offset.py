"""marts.dim_country_offset: each country's UTC offset over its zone's latest stretch without
a change, and the day the arithmetic gives there (subscription_mrr, subscription_revenue) the
same as the time-zone conversion's."""

from __future__ import annotations

from pathlib import Path

import duckdb

MARTS = Path(__file__).parents[2] / "src" / "tally" / "models" / "marts"
MODEL = MARTS / "dim_country_offset.sql"
READERS = ("subscription_mrr.sql", "subscription_revenue.sql")
# zones without daylight saving (Kathmandu's offset in quarter hours), with it (London),
# and ones whose rules changed inside the sampled years: Sao Paulo's daylight saving ended
# in 2019, Mexico City's in 2022, Almaty moved to UTC+5 in 2024, Casablanca suspends its
# UTC+1 each Ramadan until 2087
ZONES = {
    "HK": "Asia/Hong_Kong",
    "NP": "Asia/Kathmandu",
    "GB": "Europe/London",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "KZ": "Asia/Almaty",
    "MA": "Africa/Casablanca",
}


def zones_of(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("CREATE SCHEMA marts")
    connection.execute(
        "CREATE TABLE marts.dim_country AS SELECT * FROM (VALUES "
        + ", ".join(f"('{code}', '{zone}')" for code, zone in ZONES.items())
        + ") AS z(code, timezone)"
    )
    connection.execute(f"CREATE TABLE zones AS {MODEL.read_text(encoding='utf-8')}")


def test_the_readers_take_the_stretches_from_it_and_rebuild_whole_when_they_change() -> None:
    for reader in READERS:
        text = (MARTS / reader).read_text(encoding="utf-8")
        assert "JOIN marts.dim_country_offset AS z ON z.code = t.country" in text
        assert "-- @every marts.dim_country_offset" in text


def test_a_stretch_gives_the_converted_day() -> None:
    connection = duckdb.connect()
    zones_of(connection)
    # every 53 minutes from 1995 to 2045 (inside and outside each stretch, at every minute
    # of the hour over time): the day by arithmetic where the model takes it, else none
    wrong, fast = connection.execute(
        """
        SELECT
            count(*) FILTER (WHERE DATE '1970-01-01'
                + CAST(floor((epoch(s.t) + z.utc_offset) / 86400) AS INTEGER)
                <> CAST(s.t AT TIME ZONE z.timezone AS DATE)),
            count(*)
        FROM zones AS z
        CROSS JOIN generate_series(
            TIMESTAMPTZ '1995-01-01 00:00:00+00', TIMESTAMPTZ '2045-01-01 00:00:00+00',
            INTERVAL 53 MINUTE
        ) AS s(t)
        WHERE s.t >= z.steady_from AND s.t < z.steady_until
        """
    ).fetchone() or (None, None)
    assert wrong == 0
    assert fast and fast > 1_000_000


def test_the_stretches() -> None:
    connection = duckdb.connect()
    zones_of(connection)
    found = {
        code: (offset, str(since.date()), str(until.date()))
        for code, offset, since, until in connection.execute(
            "SELECT code, utc_offset, steady_from, steady_until FROM zones"
        ).fetchall()
    }
    # no change since before 2000: every day sampled is in the stretch
    assert found["HK"] == (8 * 3600, "2000-01-01", "2040-01-01")
    assert found["NP"] == (5.75 * 3600, "2000-01-01", "2040-01-01")
    # daylight saving: only the winter before 2040, which no row of today reaches
    assert found["GB"] == (0, "2039-10-31", "2040-01-01")
    assert found["BR"] == (-3 * 3600, "2019-02-18", "2040-01-01")
    assert found["KZ"] == (5 * 3600, "2024-03-01", "2040-01-01")
