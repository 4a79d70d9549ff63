"""viu CMS: the content team's episode catalogue, exported once a day as CSV.

Origin: the CMS database, reached with SQLAlchemy (``url`` in config, e.g.
``postgresql+psycopg://reader@cms-db/cms``; the password from the environment or a secrets
file, never the repo) and read with one SQL query (``query`` in config, bound ``:day`` if
it names it, and ``:until``, the day plus the week of scheduled releases the export shows).
The result is written as CSV, gzip'd: one row per episode and country with
its licence window and release date, so releases can be set beside subscription figures.
"""

from __future__ import annotations

import datetime as dt
import gzip
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from tally.errors import ConfigError, TransientError
from tally.sources import csvtools
from tally.sources._settings import source_settings
from tally.sources.base import Dataset, Parsed
from tally.sources.delimited import Column, Layout, read_delimited
from tally.warehouse.sqlfiles import sql_file

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.sources.demo import DemoWorld

SOURCE = "viu-cms"

EPISODE_COLUMNS = (
    Column("series_id", "series_id", "int", required=True),
    Column("series_title", "series_title", "text"),
    Column("episode_id", "episode_id", "int", required=True),
    Column("episode_number", "episode_number", "int"),
    Column("episode_title", "episode_title", "text"),
    Column("country", "country", "text", required=True),
    Column("licence_start", "licence_start", "date", aliases=("license_start",)),
    Column("licence_end", "licence_end", "date", aliases=("license_end",)),
    Column("release_date", "release_date", "date", required=True),
)

SCHEDULED_AHEAD_DAYS = 7  # the export shows releases scheduled up to a week ahead


def export_file(day: dt.date) -> str:
    return f"cms-episode-{day:%Y-%m-%d}.csv.gz"


def query_rows(
    url: str, query: str, day: dt.date, limit: int | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of the configured query; database errors say what to fix."""
    engine = _engine(url)
    if limit is not None:
        query = f"SELECT * FROM ({query.strip().rstrip(';')}) AS configured LIMIT {int(limit)}"
    statement = sqlalchemy.text(query)
    offered = {"day": day, "until": day + dt.timedelta(days=SCHEDULED_AHEAD_DAYS)}
    params = {k: v for k, v in offered.items() if k in statement.compile().params}
    try:
        with engine.connect() as connection:
            result = connection.execute(statement, params)
            return list(result.keys()), [tuple(row) for row in result]
    except OperationalError as error:
        # connection refused, server restarting, lock timeout: worth trying again later
        raise TransientError(
            f"{SOURCE}: cannot query the CMS database: {_first_line(error)}"
        ) from None
    except (DBAPIError, SQLAlchemyError) as error:
        raise ConfigError(f"sources.{SOURCE}.query failed: {_first_line(error)}") from None
    finally:
        engine.dispose()


def _engine(url: str) -> sqlalchemy.Engine:
    """An engine for the URL; plain ``postgresql://`` means psycopg 3, tally's driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain) :]
    try:
        return sqlalchemy.create_engine(url)
    except (SQLAlchemyError, ImportError) as error:
        # the URL may hold a password: it never goes into the message
        reason = _first_line(error).replace(url, "<url>")
        raise ConfigError(
            f"sources.{SOURCE}.url is not a usable SQLAlchemy URL ({type(error).__name__}: "
            f"{reason})"
        ) from None


def _first_line(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    return str(original).strip().splitlines()[0]


def require_columns(names: list[str]) -> None:
    wanted = [c.name for c in EPISODE_COLUMNS if c.required]
    missing = [name for name in wanted if name not in [n.lower() for n in names]]
    if missing:
        raise ConfigError(
            f"sources.{SOURCE}.query must return the columns "
            f"{', '.join(wanted)}; missing: {', '.join(missing)}"
        )


def to_csv(names: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    """The query result as CSV: dates ISO, NULL empty; the required columns must be there."""
    require_columns(names)
    cells = [["" if value is None else _text(value) for value in row] for row in rows]
    return csvtools.write_csv(names, cells)


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _connection(settings: Settings) -> tuple[str, str]:
    """The configured SQLAlchemy URL and query."""
    config = source_settings(settings, SOURCE)
    url = config.get("url")
    if not url:
        raise ConfigError(
            f"sources.{SOURCE}.url is required: a SQLAlchemy URL of the CMS "
            "database (env TALLY_SOURCES__VIU_CMS__URL)"
        )
    # the default is for the CMS schema documented in docs/sources.md
    default = sql_file("tally.sources", "queries/viu_cms.sql")
    return str(url), str(config.get("query") or default)


class CmsEpisodes(Dataset):
    source = SOURCE
    name = "cms-episode"
    zone = "internal"
    staging_table = "staging.viu_cms_episodes"
    layout = Layout(EPISODE_COLUMNS, ",", quoted=True)
    in_dataset_folder = False

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [export_file(day)]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        names, rows = query_rows(*_connection(settings), day)
        return {export_file(day): gzip.compress(to_csv(names, rows), mtime=0)}

    def check(self, settings: Settings) -> str:
        """The database answers and the query runs and names the required columns."""
        names, _ = query_rows(*_connection(settings), dt.date.today(), limit=0)
        require_columns(names)
        return f"CMS query runs and returns {len(names)} columns"

    def parse(self, data: bytes, file_name: str) -> Parsed:
        text = csvtools.gunzip(data, file_name)
        text = csvtools.to_utf8(text, file_name)
        return read_delimited(text, file_name, EPISODE_COLUMNS, delimiter=",", quoted=True)

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        ahead = day + dt.timedelta(days=SCHEDULED_AHEAD_DAYS)
        rows = [
            (
                r.series_id,
                r.series_title,
                r.episode_id,
                r.episode_number,
                r.episode_title,
                r.country,
                r.licence_start,
                r.licence_end,
                r.release_date,
            )
            for r in world.releases
            if r.release_date <= ahead
        ]
        names = [c.name for c in EPISODE_COLUMNS]
        return {export_file(day): gzip.compress(to_csv(names, rows), mtime=0)}


DATASETS = [CmsEpisodes()]
