"""Visits and actions from ``web.hits``, recomputed incrementally by site-day.

A visit never crosses midnight in its site's time zone, so a (site, local day) is a closed
unit: a run finds the site-days holding hits not yet placed in ``web.actions`` and rebuilds
exactly those days (actions, then goal conversions, then visits) in one transaction. The
rules themselves are SQL, in ``tally/web/models/*.sql``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pyarrow as pa

from tally.config import WebSettings
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_expression, sql_file
from tally.web.sites import site_timezones
from tally.web.sorted_sessions import action_pieces, hit_pieces, rebuild, visit_pieces

MODELS = "tally.web.models"
# actions.sql places each hit and numbers its place in its visit (one write per row),
# pages.sql gives its page labels ids; visits.sql reads actions. (steps.sql, the same
# numbering as an UPDATE, is for actions written without sessionize: the benches' own.)
REBUILD_ORDER = ("actions.sql", "pages.sql", "conversions.sql", "visits.sql")
# How actions.sql's and visits.sql's work is done (``web.sessionize_engine``): "sql", their
# window passes, on every backend; "sorted", one sort and numpy (tally.web.sorted_sessions),
# where the warehouse hands rows over as Arrow and reads them back by name (DuckDB), else as
# "sql". The setting is where the choices and the default are written.
_ENGINE_SETTING = WebSettings.model_fields["sessionize_engine"]
ENGINES: tuple[str, ...] = get_args(_ENGINE_SETTING.annotation)
DEFAULT_ENGINE: str = _ENGINE_SETTING.default


def sessions_sql(name: str, **fragments: str) -> str:
    """``sessions/<name>.sql`` of ``tally/web/models``, a statement of sessionize's own,
    with its ``{fragments}`` filled."""
    return sql_file(MODELS, f"sessions/{name}.sql", **fragments)


def _scope(name: str) -> str:
    """A cluster scope's condition: ``sessions/<name>.sql`` as one line."""
    return sql_expression(MODELS, f"sessions/{name}.sql")


# On a cluster (``capabilities.cluster_runs_statements``) the models read and change only
# these rows of each table (conditions on the alias t): a dirty site-day's hits, actions,
# conversions and visits; the site-wide tables whole; orders of any day (an order id counts
# once per site, ever) and their hits.
DIRTY = _scope("dirty_rows")
CLUSTER_SCOPES = {
    "web.dirty_days": "true",
    "web.sites": "true",
    "web.site_url_settings": "true",
    "web.goals": "true",
    "web.pages": "true",
    "web.visitor_salts": _scope("dirty_salts"),
    "web.hits": _scope("dirty_hits"),
    "web.actions": DIRTY,
    "web.conversions": f"{DIRTY} OR t.idgoal = 0",
    "web.visits": DIRTY,
}


@dataclass(frozen=True)
class SessionizeResult:
    days: list[tuple[int, dt.date]]  # the (idsite, local date) pairs recomputed
    visits: int  # visits now stored for those days
    actions: int  # hits placed for those days (pings and goal hits included)


def model_sql(name: str) -> str:
    """The text of one model file of ``tally/web/models``, with the pieces it shares with
    the sorted engine's statements (``sessions/*.sql``) filled in."""
    return sql_file(MODELS, name, **_pieces(name))


def _pieces(name: str) -> dict[str, str]:
    if name == "actions.sql":
        return {**hit_pieces(), **action_pieces()}
    if name == "visits.sql":
        return visit_pieces("i")  # identities: the first hit's device, country, provider
    return {}


def day_bounds(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants (naive, as web.hits stores them) where ``day`` starts and ends."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    utc = dt.UTC
    return start.astimezone(utc).replace(tzinfo=None), end.astimezone(utc).replace(tzinfo=None)


def sessionize(
    warehouse: Warehouse,
    *,
    full: bool = False,
    idsite: int | None = None,
    since: dt.date | None = None,
    engine: str = DEFAULT_ENGINE,
) -> SessionizeResult:
    """Rebuild visits for site-days with unplaced hits (or every day with ``full=True``).

    ``idsite`` and ``since`` narrow a full recompute (e.g. after a site's goals changed);
    ``engine`` is one of ``ENGINES`` ("sorted" runs as "sql" where the warehouse cannot).
    """
    if engine not in ENGINES:
        raise ValueError(f"sessionize engine {engine!r}: one of {', '.join(ENGINES)}")
    # One connection for the whole run: a DuckDB file is opened once, not once per statement.
    with warehouse.session():
        return _sessionize(warehouse, full, idsite, since, engine)


def _sorts_in_numpy(warehouse: Warehouse, engine: str) -> bool:
    capabilities = warehouse.capabilities
    return (
        engine == "sorted"
        and capabilities.columnar_results
        and capabilities.reads_local_files  # arrow_view
        and not capabilities.cluster_runs_statements
    )


def _sessionize(
    warehouse: Warehouse,
    full: bool,
    idsite: int | None,
    since: dt.date | None,
    engine: str,
) -> SessionizeResult:
    finder = "all_days.sql" if full else "pending_days.sql"
    found = warehouse.rows(model_sql(finder)) if warehouse.table_exists("web.hits") else []
    days = [
        (int(site), _as_date(day), str(zone))
        for site, day, zone in found
        if (idsite is None or int(site) == idsite) and (since is None or _as_date(day) >= since)
    ]
    if not days:
        return SessionizeResult(days=[], visits=0, actions=0)
    with warehouse.transaction():
        _mark_dirty(warehouse, days)
        _ensure_salts(warehouse, sorted({day for _, day, _ in days}))
        if warehouse.capabilities.cluster_runs_statements:
            cluster: Any = warehouse
            cluster.run_on_cluster([model_sql(name) for name in REBUILD_ORDER], CLUSTER_SCOPES)
        elif _sorts_in_numpy(warehouse, engine):
            # actions.sql's and visits.sql's work done there; pages and conversions as SQL
            rebuild(warehouse, [model_sql(name) for name in REBUILD_ORDER[1:-1]])
        else:
            for name in REBUILD_ORDER:
                warehouse.run_model(model_sql(name))
        visits = _count(warehouse, "web.visits")
        actions = _count(warehouse, "web.actions")
        _stamp_versions(warehouse)
        warehouse.execute("DELETE FROM web.dirty_days")
    return SessionizeResult(days=[(s, d) for s, d, _ in days], visits=visits, actions=actions)


def _as_date(value: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _mark_dirty(warehouse: Warehouse, days: list[tuple[int, dt.date, str]]) -> None:
    starts, ends = zip(*(day_bounds(day, zone) for _, day, zone in days), strict=True)
    table = pa.table(
        {
            "idsite": pa.array([site for site, _, _ in days], pa.int32()),
            "local_date": pa.array([day for _, day, _ in days], pa.date32()),
            "utc_start": pa.array(starts, pa.timestamp("us")),
            "utc_end": pa.array(ends, pa.timestamp("us")),
        }
    )
    warehouse.execute("DELETE FROM web.dirty_days")
    warehouse.append("web.dirty_days", table)


def _ensure_salts(warehouse: Warehouse, days: list[dt.date]) -> None:
    """A fresh random salt for each day that has none (cookieless visitor hashes)."""
    have = {
        _as_date(row[0])
        for row in warehouse.rows(
            "SELECT salt_date FROM web.visitor_salts WHERE salt_date >= ? AND salt_date <= ?",
            [days[0], days[-1]],
        )
    }
    missing = [day for day in days if day not in have]
    if missing:
        salts = pa.table(
            {
                "salt_date": pa.array(missing, pa.date32()),
                "salt": [secrets.token_hex(16) for _ in missing],
            }
        )
        warehouse.append("web.visitor_salts", salts)


SALTS_AHEAD = 31  # days of salts a loader draws at once past the one it needs
KEYS_KEPT = 65_536  # IP keys a loader remembers


# A source of salts: given a day with no salt known, the salts of that day and of the days
# drawn with it (the warehouse's ``draw_salts``; in the loader's child process, the parent's
# answer)
DrawSalts = Callable[[dt.date], Mapping[dt.date, str]]


class DaySalts:
    """The cookieless salt of a site's local day, drawn when missing, and the IP keys made
    with it (the loader's side of cookieless visitor keys).

    Matomo builds a cookieless visitor's id from the full IP unless told to use the
    anonymised one (plugins/PrivacyManager/Config.php, useAnonymizedIpForVisitEnrichment,
    off by default): people behind one anonymised /16 with the same browser stay apart. The
    full IP is never stored: only this hash, with a salt that ``forget_salts`` deletes.

    ``zones`` are the sites' time zones, ``known`` the salts drawn so far and ``draw`` where
    a missing day's salt comes from (``DaySalts.of`` reads and draws in a warehouse).
    """

    def __init__(
        self, zones: Mapping[int, ZoneInfo], known: Mapping[dt.date, str], draw: DrawSalts
    ) -> None:
        self.zones = dict(zones)
        self.salts = dict(known)
        self.draw = draw
        self.keys: dict[tuple[dt.date, str], str] = {}

    @classmethod
    def of(cls, warehouse: Warehouse, draw: DrawSalts | None = None) -> DaySalts:
        """The warehouse's salts: its sites' zones, every salt drawn so far (one query for
        all, not one per day), a missing day from ``draw``, by default drawn there
        (``draw_salts``)."""
        zones = {site: ZoneInfo(zone) for site, zone in site_timezones(warehouse).items()}
        found = warehouse.rows("SELECT salt_date, salt FROM web.visitor_salts")
        known = {_as_date(salt_date): str(salt) for salt_date, salt in found}
        return cls(zones, known, draw or partial(draw_salts, warehouse))

    def known(self) -> dict[dt.date, str]:
        """A copy of the salts known here (drawn before or since)."""
        return dict(self.salts)

    def salt(self, day: dt.date) -> str:
        """The salt of ``day``: known, or drawn (with the days the source draws along)."""
        salt = self.salts.get(day)
        if salt is None:
            self.salts.update(self.draw(day))
            salt = self.salts[day]
        return salt

    def ip_key(self, idsite: int, hit_time: dt.datetime, ip: str | None) -> str | None:
        """A hash of ``ip`` with the salt of the hit's day in the site's time zone."""
        return self.ip_keys([idsite], [hit_time], [ip])[0]

    def ip_keys(
        self,
        sites: Sequence[int],
        times: Sequence[dt.datetime],
        addresses: Sequence[str | None],
    ) -> list[str | None]:
        """``ip_key`` of each hit of a batch (its site, UTC time and address side by side)."""
        keys: list[str | None] = []
        zones, known = self.zones, self.keys
        for idsite, hit_time, ip in zip(sites, times, addresses, strict=True):
            zone = zones.get(idsite)
            if not ip or zone is None:
                keys.append(None)
                continue
            # the hit's local day: what astimezone computes (a naive UTC time made the
            # zone's, then converted from UTC), without the UTC step
            day = zone.fromutc(hit_time.replace(tzinfo=zone)).date()
            # a visitor sends most of a day's hits from one address: each (day, address)
            # is hashed once in this object's life (one load), and forgotten with it
            key = known.get((day, ip))
            keys.append(self._hashed(day, ip) if key is None else key)
        return keys

    def _hashed(self, day: dt.date, ip: str) -> str:
        salt = self.salts.get(day) or self.salt(day)
        if len(self.keys) >= KEYS_KEPT:
            self.keys.clear()
        key = self.keys[day, ip] = hashlib.sha256(f"{salt}|{ip}".encode()).hexdigest()[:32]
        return key


def draw_salts(warehouse: Warehouse, day: dt.date) -> dict[dt.date, str]:
    """Draw the salts of ``day`` and of the month after it (up to today, UTC) where the
    warehouse has none, and return those days' salts as stored: a backfill meets its days
    in order, so one statement serves ~31 of them. A day already salted keeps its salt (ON
    CONFLICT DO NOTHING), so two loaders drawing at once agree."""
    last = min(day + dt.timedelta(days=SALTS_AHEAD), dt.datetime.now(dt.UTC).date())
    days = [day + dt.timedelta(days=n) for n in range(max(0, (last - day).days) + 1)]
    values = ", ".join("(?, ?)" for _ in days)
    warehouse.execute(
        f"INSERT INTO web.visitor_salts (salt_date, salt) VALUES {values} ON CONFLICT DO NOTHING",
        [value for each in days for value in (each, secrets.token_hex(16))],
    )
    found = warehouse.rows(
        "SELECT salt_date, salt FROM web.visitor_salts WHERE salt_date >= ? AND salt_date <= ?",
        [day, max(day, last)],
    )
    return {_as_date(salt_date): str(salt) for salt_date, salt in found}


def _stamp_versions(warehouse: Warehouse) -> None:
    """Give every rebuilt site-day one new version, above any so far (report caches compare
    the versions of a period's days to know when an answer is stale)."""
    newest = warehouse.rows("SELECT coalesce(max(version), 0) FROM web.day_versions")
    version = int(newest[0][0]) + 1
    warehouse.execute(sessions_sql("unstamp_dirty_days"))
    warehouse.execute(
        "INSERT INTO web.day_versions (idsite, local_date, version) "
        "SELECT idsite, local_date, ? FROM web.dirty_days",
        [version],
    )


def _count(warehouse: Warehouse, table: str) -> int:
    """Rows of ``table`` in the dirty site-days."""
    found = warehouse.rows(sessions_sql("dirty_count", table=table))
    return int(found[0][0])


def forget_salts(warehouse: Warehouse, before: dt.date) -> int:
    """Delete the cookieless salts of days before ``before``: their hashes become unlinkable.

    Visits already computed keep their keys; a later full recompute of those days would
    draw new salts.
    """
    count = warehouse.rows("SELECT count(*) FROM web.visitor_salts WHERE salt_date < ?", [before])[
        0
    ][0]
    warehouse.execute("DELETE FROM web.visitor_salts WHERE salt_date < ?", [before])
    return int(count)
