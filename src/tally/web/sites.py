"""Tracked sites (and apps) and their goals, stored in ``web.sites`` and ``web.goals``.

A change that alters how past hits read (a site's time zone, any goal) drops that site's
computed visits, so the next ``sessionize`` run rebuilds them under the new definition.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tally.errors import BadInputError, NotFoundError
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

MATCH_ATTRIBUTES = ("url", "title", "event_category", "event_action", "event_name", "manual")
PATTERN_TYPES = ("contains", "exact", "regex")


@dataclass(frozen=True)
class Site:
    idsite: int
    name: str
    urls: list[str]  # the first is the main URL
    timezone: str
    created_at: dt.datetime
    # Matomo's per-site URL settings (plugins/SitesManager): parameters dropped from page
    # URLs besides Matomo's own list; site search read from page URLs (sitesearch) with
    # these keyword / category parameters (empty: SEARCH_KEYWORD_PARAMETERS, none).
    excluded_parameters: list[str] = field(default_factory=list)
    sitesearch: bool = True
    search_keyword_parameters: list[str] = field(default_factory=list)
    search_category_parameters: list[str] = field(default_factory=list)
    # Matomo's create_new_visit_when_website_referrer_changes (off by default)
    new_visit_on_referrer_change: bool = False
    # Matomo's keep_url_fragment: page URLs keep the part after '#' (off by default)
    keep_url_fragment: bool = False

    @property
    def main_url(self) -> str:
        return self.urls[0]

    @property
    def keyword_parameters(self) -> list[str]:
        """The parameters that carry a site search keyword in this site's page URLs."""
        return self.search_keyword_parameters or list(SEARCH_KEYWORD_PARAMETERS)


# Matomo's default site search keyword parameters (plugins/SitesManager/API.php,
# DEFAULT_SEARCH_KEYWORD_PARAMETERS); it has no default category parameter.
SEARCH_KEYWORD_PARAMETERS = ("q", "query", "s", "search", "searchword", "k", "keyword", "keywords")


@dataclass(frozen=True)
class Goal:
    idsite: int
    idgoal: int
    name: str
    match_attribute: str  # one of MATCH_ATTRIBUTES
    pattern_type: str | None  # one of PATTERN_TYPES; None for a manual goal
    pattern: str | None
    case_sensitive: bool = False
    allow_multiple: bool = False
    revenue: float | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# -- sites ---------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """A site URL: http(s) with a host; returned without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInputError(
            f"{url!r}: expected http(s)://host[/path], e.g. https://example.com",
            file="site",
            field="url",
        )
    return url.strip().rstrip("/")


def check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInputError(
            f"unknown IANA time zone {timezone!r} (e.g. Asia/Hong_Kong)",
            file="site",
            field="timezone",
        ) from None
    return timezone


def _check_name(name: str, thing: str = "site") -> str:
    if not name.strip():
        raise BadInputError("must not be empty", file=thing, field="name")
    return name.strip()


def check_parameters(names: list[str] | None, what: str) -> list[str]:
    """URL parameter names: trimmed, empty ones dropped, each once; no commas or spaces."""
    checked: list[str] = []
    for name in names or []:
        for part in name.split(","):
            part = part.strip()
            if not part:
                continue
            if any(c.isspace() or c in "&=#?" for c in part):
                raise BadInputError(
                    f"{part!r} is not a URL parameter name", file="site", field=what
                )
            if part not in checked:
                checked.append(part)
    return checked


def add_site(
    warehouse: Warehouse,
    name: str,
    urls: list[str],
    timezone: str,
    *,
    excluded_parameters: list[str] | None = None,
    sitesearch: bool = True,
    search_keyword_parameters: list[str] | None = None,
    search_category_parameters: list[str] | None = None,
    new_visit_on_referrer_change: bool = False,
    keep_url_fragment: bool = False,
) -> Site:
    """Create a site with the next free id; ``urls[0]`` becomes its main URL."""
    if not urls:
        raise BadInputError("a site needs at least one URL", file="site", field="url")
    checked = [check_url(url) for url in urls]
    site = Site(
        idsite=0,
        name=_check_name(name),
        urls=list(dict.fromkeys(checked)),
        timezone=check_timezone(timezone),
        created_at=_now(),
        excluded_parameters=check_parameters(excluded_parameters, "excluded_parameters"),
        sitesearch=sitesearch,
        search_keyword_parameters=check_parameters(search_keyword_parameters, "search_keyword"),
        search_category_parameters=check_parameters(search_category_parameters, "search_category"),
        new_visit_on_referrer_change=new_visit_on_referrer_change,
        keep_url_fragment=keep_url_fragment,
    )
    with warehouse.transaction():
        idsite = int(warehouse.rows("SELECT coalesce(max(idsite), 0) + 1 FROM web.sites")[0][0])
        warehouse.execute(
            "INSERT INTO web.sites (idsite, name, main_url, urls, timezone, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                idsite,
                site.name,
                site.main_url,
                json.dumps(site.urls),
                site.timezone,
                site.created_at,
            ],
        )
        site = replace(site, idsite=idsite)
        _store_settings(warehouse, site)
    return site


def _select() -> str:
    return sql_file("tally.web.models", "sites/site_rows.sql").rstrip()


def _store_settings(warehouse: Warehouse, site: Site) -> None:
    """The site's URL settings row (lists stored comma-separated, as Matomo does); a site
    with Matomo's defaults needs none."""
    warehouse.execute("DELETE FROM web.site_url_settings WHERE idsite = ?", [site.idsite])
    values = [
        ",".join(site.excluded_parameters) or None,
        site.sitesearch,
        ",".join(site.search_keyword_parameters) or None,
        ",".join(site.search_category_parameters) or None,
        site.new_visit_on_referrer_change,
        site.keep_url_fragment,
    ]
    if values != [None, True, None, None, False, False]:
        insert = sql_file("tally.web.models", "sites/store_settings.sql")
        warehouse.execute(insert, [site.idsite, *values])


def list_sites(warehouse: Warehouse) -> list[Site]:
    found = warehouse.rows(f"{_select()} ORDER BY s.idsite")
    return [_site(row) for row in found]


def site_exists(warehouse: Warehouse, idsite: int) -> bool:
    found = warehouse.rows("SELECT count(*) FROM web.sites WHERE idsite = ?", [idsite])
    return int(found[0][0]) > 0


def site_names(warehouse: Warehouse) -> dict[int, str]:
    """Every site's name by id, in id order."""
    found = warehouse.rows("SELECT idsite, name FROM web.sites ORDER BY idsite")
    return {int(idsite): str(name) for idsite, name in found}


def site_timezones(warehouse: Warehouse) -> dict[int, str]:
    """Every site's IANA time zone by id, in id order."""
    found = warehouse.rows("SELECT idsite, timezone FROM web.sites ORDER BY idsite")
    return {int(idsite): str(zone) for idsite, zone in found}


def get_site(warehouse: Warehouse, idsite: int) -> Site:
    found = warehouse.rows(f"{_select()} WHERE s.idsite = ?", [idsite])
    if not found:
        raise NotFoundError(f"site {idsite} does not exist (see: tally site list)")
    return _site(found[0])


def _site(row: tuple[Any, ...]) -> Site:
    idsite, name, main_url, urls, timezone, created_at = row[:6]
    excluded, search, keywords, categories, referrer_change, keep_fragment = row[6:]
    listed = [u for u in json.loads(urls or "[]") if isinstance(u, str)]
    return Site(
        int(idsite),
        name,
        list(dict.fromkeys([main_url, *listed])),
        timezone,
        created_at,
        excluded_parameters=_split(excluded),
        sitesearch=search is None or bool(search),
        search_keyword_parameters=_split(keywords),
        search_category_parameters=_split(categories),
        new_visit_on_referrer_change=bool(referrer_change),
        keep_url_fragment=bool(keep_fragment),
    )


def _split(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part]


def edit_site(
    warehouse: Warehouse,
    idsite: int,
    *,
    name: str | None = None,
    urls: list[str] | None = None,
    timezone: str | None = None,
    excluded_parameters: list[str] | None = None,
    sitesearch: bool | None = None,
    search_keyword_parameters: list[str] | None = None,
    search_category_parameters: list[str] | None = None,
    new_visit_on_referrer_change: bool | None = None,
    keep_url_fragment: bool | None = None,
) -> Site:
    """Change a site's name, URLs (all of them, main first), time zone or URL settings (a
    list given replaces the old one; an empty list clears it). URL settings apply to hits
    loaded from then on, as Matomo's apply to requests tracked after a change, except
    ``new_visit_on_referrer_change``, a rule of visits, and ``keep_url_fragment``, which
    page labels follow: the site's visits are rebuilt (fragments the loader dropped while
    it was off stay dropped, as in Matomo)."""
    site = get_site(warehouse, idsite)
    new_zone = check_timezone(timezone) if timezone is not None else site.timezone
    changed = replace(
        site,
        name=_check_name(name) if name is not None else site.name,
        urls=list(dict.fromkeys(check_url(u) for u in urls)) if urls else site.urls,
        timezone=new_zone,
        sitesearch=site.sitesearch if sitesearch is None else sitesearch,
        new_visit_on_referrer_change=site.new_visit_on_referrer_change
        if new_visit_on_referrer_change is None
        else new_visit_on_referrer_change,
        keep_url_fragment=site.keep_url_fragment
        if keep_url_fragment is None
        else keep_url_fragment,
    )
    if excluded_parameters is not None:
        changed = replace(
            changed, excluded_parameters=check_parameters(excluded_parameters, "excluded")
        )
    if search_keyword_parameters is not None:
        changed = replace(
            changed,
            search_keyword_parameters=check_parameters(search_keyword_parameters, "search"),
        )
    if search_category_parameters is not None:
        changed = replace(
            changed,
            search_category_parameters=check_parameters(search_category_parameters, "category"),
        )
    with warehouse.transaction():
        warehouse.execute(
            "UPDATE web.sites SET name = ?, main_url = ?, urls = ?, timezone = ? WHERE idsite = ?",
            [changed.name, changed.main_url, json.dumps(changed.urls), new_zone, idsite],
        )
        _store_settings(warehouse, changed)
        if new_zone != site.timezone:
            invalidate_visits(warehouse, idsite)  # every local day moved
        elif changed.new_visit_on_referrer_change != site.new_visit_on_referrer_change:
            invalidate_visits(warehouse, idsite)  # visits split otherwise
        elif changed.keep_url_fragment != site.keep_url_fragment:
            invalidate_visits(warehouse, idsite)  # page labels show fragments or not
    return changed


def invalidate_visits(warehouse: Warehouse, idsite: int) -> None:
    """Drop a site's computed visits so the next sessionize run rebuilds them all."""
    # day_versions too: report caches see the site's days change
    for table in ("web.conversions", "web.visits", "web.actions", "web.day_versions"):
        warehouse.execute(f"DELETE FROM {table} WHERE idsite = ?", [idsite])


# -- goals ---------------------------------------------------------------------------------


def check_goal(goal: Goal) -> Goal:
    """The goal with its fields checked; raises BadInputError naming the bad field."""
    _check_name(goal.name, "goal")
    if goal.match_attribute not in MATCH_ATTRIBUTES:
        raise BadInputError(
            f"must be one of {', '.join(MATCH_ATTRIBUTES)}", file="goal", field="match"
        )
    if goal.match_attribute == "manual":
        return Goal(**{**goal.__dict__, "pattern_type": None, "pattern": None})
    if goal.pattern_type not in PATTERN_TYPES:
        raise BadInputError(
            f"must be one of {', '.join(PATTERN_TYPES)}", file="goal", field="pattern_type"
        )
    if not goal.pattern:
        raise BadInputError(
            "a goal that matches hits needs a pattern", file="goal", field="pattern"
        )
    if goal.pattern_type == "regex":
        try:
            re.compile(goal.pattern)
        except re.error as error:
            raise BadInputError(
                f"not a valid regular expression: {error}", file="goal", field="pattern"
            ) from None
    if goal.revenue is not None and goal.revenue < 0:
        raise BadInputError("must not be negative", file="goal", field="revenue")
    return goal


def add_goal(
    warehouse: Warehouse,
    idsite: int,
    name: str,
    match_attribute: str,
    pattern_type: str | None = None,
    pattern: str | None = None,
    *,
    case_sensitive: bool = False,
    allow_multiple: bool = False,
    revenue: float | None = None,
) -> Goal:
    """Create a goal with the site's next goal id (1, 2, ...)."""
    get_site(warehouse, idsite)
    goal = check_goal(
        Goal(
            idsite,
            0,
            name.strip(),
            match_attribute,
            pattern_type,
            pattern,
            case_sensitive,
            allow_multiple,
            revenue,
        )
    )
    now = _now()
    with warehouse.transaction():
        idgoal = int(
            warehouse.rows(
                "SELECT coalesce(max(idgoal), 0) + 1 FROM web.goals WHERE idsite = ?", [idsite]
            )[0][0]
        )
        warehouse.execute(
            "INSERT INTO web.goals (idsite, idgoal, name, match_attribute, pattern_type, pattern, "
            "case_sensitive, allow_multiple, revenue, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                idsite,
                idgoal,
                goal.name,
                goal.match_attribute,
                goal.pattern_type,
                goal.pattern,
                goal.case_sensitive,
                goal.allow_multiple,
                goal.revenue,
                now,
                now,
            ],
        )
        invalidate_visits(warehouse, idsite)  # past visits may now convert
    return Goal(**{**goal.__dict__, "idgoal": idgoal})


def goal_exists(warehouse: Warehouse, idsite: int, idgoal: int) -> bool:
    found = warehouse.rows(
        "SELECT count(*) FROM web.goals WHERE idsite = ? AND idgoal = ?", [idsite, idgoal]
    )
    return int(found[0][0]) > 0


def goal_names(warehouse: Warehouse, idsite: int) -> dict[int, str]:
    """A site's goal names by id, in id order."""
    found = warehouse.rows(
        "SELECT idgoal, name FROM web.goals WHERE idsite = ? ORDER BY idgoal", [idsite]
    )
    return {int(idgoal): str(name) for idgoal, name in found}


def list_goals(warehouse: Warehouse, idsite: int | None = None) -> list[Goal]:
    where, params = ("WHERE idsite = ?", [idsite]) if idsite is not None else ("", [])
    found = warehouse.rows(
        "SELECT idsite, idgoal, name, match_attribute, pattern_type, pattern, case_sensitive, "
        f"allow_multiple, revenue FROM web.goals {where} ORDER BY idsite, idgoal",
        params,
    )
    return [
        Goal(int(s), int(g), n, m, t, p, bool(c), bool(a), r) for s, g, n, m, t, p, c, a, r in found
    ]


def get_goal(warehouse: Warehouse, idsite: int, idgoal: int) -> Goal:
    for goal in list_goals(warehouse, idsite):
        if goal.idgoal == idgoal:
            return goal
    raise NotFoundError(f"goal {idgoal} of site {idsite} does not exist (see: tally goal list)")


def edit_goal(warehouse: Warehouse, idsite: int, idgoal: int, **changes: object) -> Goal:
    """Change some fields of a goal (names as in ``Goal``); the site's visits are rebuilt."""
    goal = get_goal(warehouse, idsite, idgoal)
    unknown = set(changes) - (set(Goal.__dataclass_fields__) - {"idsite", "idgoal"})
    if unknown:
        raise BadInputError("is not a goal field", file="goal", field=", ".join(sorted(unknown)))
    updated = check_goal(Goal(**{**goal.__dict__, **changes}))
    with warehouse.transaction():
        warehouse.execute(
            "UPDATE web.goals SET name = ?, match_attribute = ?, pattern_type = ?, pattern = ?, "
            "case_sensitive = ?, allow_multiple = ?, revenue = ?, updated_at = ? "
            "WHERE idsite = ? AND idgoal = ?",
            [
                updated.name,
                updated.match_attribute,
                updated.pattern_type,
                updated.pattern,
                updated.case_sensitive,
                updated.allow_multiple,
                updated.revenue,
                _now(),
                idsite,
                idgoal,
            ],
        )
        invalidate_visits(warehouse, idsite)
    return updated


def delete_goal(warehouse: Warehouse, idsite: int, idgoal: int) -> None:
    get_goal(warehouse, idsite, idgoal)
    with warehouse.transaction():
        warehouse.execute("DELETE FROM web.goals WHERE idsite = ? AND idgoal = ?", [idsite, idgoal])
        invalidate_visits(warehouse, idsite)
