"""The CMS export against a real PostgreSQL holding a small CMS schema: the query, the CSV,
the errors a misconfigured query gives, and demo releases that sit on sign-up bumps."""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from tests.conftest import service_url

from tally.config import Settings
from tally.errors import BadInputError, ConfigError, TransientError
from tally.lake import Lake
from tally.pipeline.context import Context
from tally.pipeline.ingest import ingest
from tally.pipeline.load import load
from tally.sources import get_dataset
from tally.sources.demo import DemoWorld
from tally.sources.settings import ViuCmsSettings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources" / "viu-cms"
DAY = dt.date(2016, 10, 26)
NAME = "cms-episode-2016-10-26.csv.gz"
dataset = get_dataset("viu-cms", "cms-episode")


@pytest.fixture(scope="module")
def cms_url() -> Iterator[str]:
    """A throwaway database holding the fixture CMS (read only, so shared by the module)."""
    postgres_url = service_url("postgres")
    name = f"tally_cms_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlparse(postgres_url)._replace(path=f"/{name}").geturl()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute((FIXTURES / "cms_schema.sql").read_text(encoding="utf-8"))
    try:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_fetch_exports_released_and_scheduled_episodes(cms_url: str, settings: Settings) -> None:
    settings.configure("sources.viu-cms", {"url": cms_url})
    ((name, data),) = dataset.fetch(DAY, settings).items()
    assert name == NAME
    lines = gzip.decompress(data).decode().splitlines()
    assert lines[0] == (
        "series_id,series_title,episode_id,episode_number,episode_title,"
        "country,licence_start,licence_end,release_date"
    )
    # 5 licences: 4 released by 2016-11-02 (the day + a week), SG's episode 2 is in November
    assert len(lines) == 1 + 4
    assert lines[1] == (
        '101,Harbour Lights,101001,1,"Harbour Lights, episode 1",HK,'
        "2016-10-15,2017-10-15,2016-10-15"
    )
    assert lines[4] == "102,Golden Hour,102001,1,,HK,2016-10-29,,2016-10-29"  # NULLs empty
    parsed = dataset.parse(data, name)
    assert not parsed.bad_rows
    assert parsed.table.column("release_date").to_pylist()[-1] == dt.date(2016, 10, 29)
    assert parsed.table.column("licence_end").to_pylist()[-1] is None


def test_a_configured_query_binds_the_day(cms_url: str, settings: Settings) -> None:
    query = (
        "SELECT s.id AS series_id, e.id AS episode_id, l.country, l.release_date "
        "FROM cms_series s JOIN cms_episodes e ON e.series_id = s.id "
        "JOIN cms_licences l ON l.episode_id = e.id WHERE l.release_date = :day"
    )
    settings.configure("sources.viu-cms", {"url": cms_url, "query": query})
    ((name, data),) = dataset.fetch(dt.date(2016, 10, 22), settings).items()
    rows = dataset.parse(data, name).table.to_pylist()
    assert [(r["episode_id"], r["country"]) for r in rows] == [(101002, "HK")]


def test_a_query_without_required_columns_names_them(cms_url: str, settings: Settings) -> None:
    settings.configure(
        "sources.viu-cms",
        {
            "url": cms_url,
            "query": "SELECT id AS series_id FROM cms_series",
        },
    )
    with pytest.raises(ConfigError, match="missing: episode_id, country, release_date"):
        dataset.fetch(DAY, settings)


def test_a_broken_query_is_a_config_error(cms_url: str, settings: Settings) -> None:
    settings.configure("sources.viu-cms", {"url": cms_url, "query": "SELECT * FROM cms_shows"})
    with pytest.raises(ConfigError, match='relation "cms_shows" does not exist'):
        dataset.fetch(DAY, settings)


def test_an_unreachable_database_is_transient(settings: Settings) -> None:
    settings.configure("sources.viu-cms", {"url": "postgresql+psycopg://reader@127.0.0.1:9/cms"})
    with pytest.raises(TransientError, match="cannot query the CMS database"):
        dataset.fetch(DAY, settings)


def test_no_url_names_the_setting(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="sources.viu-cms.url"):
        dataset.fetch(DAY, settings)


def test_bad_rows_name_line_and_field() -> None:
    data = gzip.compress((FIXTURES / "cms-episode-bad.csv").read_bytes())
    parsed = dataset.parse(data, NAME)
    # line 3: episode number "two"; line 4: no release date; line 5: day-first date
    assert [(b.line, b.field) for b in parsed.bad_rows] == [
        (3, "episode_number"),
        (4, "release_date"),
        (5, "release_date"),
    ]
    assert parsed.table.column("episode_id").to_pylist() == [101001]


def test_demo_releases_sit_on_the_weeks_busiest_sign_up_day() -> None:
    world = DemoWorld(seed=11, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 21), scale=0.3)
    day = dt.date(2026, 10, 14)
    ((name, data),) = dataset.sample(day, world).items()
    parsed = dataset.parse(data, name)
    assert not parsed.bad_rows
    assert max(parsed.table.column("release_date").to_pylist()) <= day + dt.timedelta(days=7)

    def sign_ups(date: dt.date, country: str) -> int:
        return sum(
            1 for s in world.by_start.get(date, []) if s.country == country and not s.reactivation
        )

    for release in world.releases:
        monday = release.release_date - dt.timedelta(days=release.release_date.weekday())
        week = [monday + dt.timedelta(days=d) for d in range(7)]
        best = max(sign_ups(d, release.country) for d in week)
        assert sign_ups(release.release_date, release.country) == best


def test_fetch_land_and_load(cms_url: str, settings: Settings, duckdb_warehouse) -> None:
    settings.configure("sources.viu-cms", {"url": cms_url})
    context = Context(settings, duckdb_warehouse, Lake(settings.lake_url))
    ingest(context, dataset, DAY)
    assert context.lake.exists(f"thirdparty/internal/viu-cms/2016/10/26/{NAME}")
    load(context, dataset, DAY)
    assert duckdb_warehouse.rows(
        "SELECT count(*), count(DISTINCT episode_id), max(release_date) "
        "FROM staging.viu_cms_episodes"
    ) == [(4, 3, dt.date(2016, 10, 29))]


def test_missing_column_in_a_landed_file_fails_it() -> None:
    data = gzip.compress(b"series_id,episode_id,country\n1,2,HK\n")
    with pytest.raises(BadInputError, match="'release_date' is missing"):
        dataset.parse(data, NAME)


def test_check_runs_the_query_without_reading_rows(cms_url: str, settings: Settings) -> None:
    settings.configure("sources.viu-cms", {"url": cms_url})
    assert dataset.check(settings) == "CMS query runs and returns 9 columns"
    settings.section(ViuCmsSettings).query = "SELECT id AS series_id FROM cms_series"
    with pytest.raises(ConfigError, match="missing: episode_id, country, release_date"):
        dataset.check(settings)


def test_a_plain_postgresql_url_uses_psycopg(cms_url: str, settings: Settings) -> None:
    settings.configure(
        "sources.viu-cms", {"url": cms_url.replace("postgresql+psycopg://", "postgresql://")}
    )
    assert "9 columns" in dataset.check(settings)


def test_an_unusable_url_names_the_setting(settings: Settings) -> None:
    settings.configure("sources.viu-cms", {"url": "oracle+nodriver://cms"})
    with pytest.raises(ConfigError, match="sources.viu-cms.url is not a usable SQLAlchemy URL"):
        dataset.check(settings)


def test_an_unparsable_url_does_not_echo_its_password(settings: Settings) -> None:
    settings.configure("sources.viu-cms", {"url": "not a url with hunter2 inside"})
    with pytest.raises(ConfigError, match="not a usable SQLAlchemy URL") as raised:
        dataset.check(settings)
    assert "hunter2" not in str(raised.value)
