"""Move hit-log records into ``web.hits`` exactly once, enriching them on the way.

Per batch: read complete records after the segment's loaded offset, parse and enrich them,
then in ONE transaction insert them into ``web.hits`` and advance the segment's row
(``warehouse.meta.hitlog``). A crash before the commit leaves the offset
where it was (the batch is read again); after it, the offset has moved with the rows.
``hit_id`` (segment:offset) is the primary key, so a bug could never double a row silently.

One loader runs at a time (the server's background task, or ``load_hits`` called directly
when no server runs on the same log).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa

from tally.config import Settings
from tally.warehouse import Warehouse
from tally.warehouse.meta import hitlog, quarantine
from tally.web.enrich import Network, anonymise_ip, detect_device, network_of
from tally.web.hitlog import Record, Scan, read_segment, segment_paths
from tally.web.pageurl import search_in_url
from tally.web.params import Rejected, parse_hit, parse_query
from tally.web.referrers import (
    Referrer,
    attribution,
    classify,
    hosts_of,
    without_excluded_params,
)
from tally.web.sessions import DaySalts, SessionizeResult, forget_salts, sessionize
from tally.web.sites import SEARCH_KEYWORD_PARAMETERS, list_sites

logger = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        ("hit_id", pa.string()),
        ("idsite", pa.int32()),
        ("received_at", pa.timestamp("us")),
        ("hit_time", pa.timestamp("us")),
        ("visitor_id", pa.string()),
        ("user_id", pa.string()),
        ("kind", pa.string()),
        ("url", pa.string()),
        ("action_name", pa.string()),
        ("urlref", pa.string()),
        ("link_url", pa.string()),
        ("search_keyword", pa.string()),
        ("search_category", pa.string()),
        ("search_count", pa.int32()),
        ("event_category", pa.string()),
        ("event_action", pa.string()),
        ("event_name", pa.string()),
        ("event_value", pa.float64()),
        ("idgoal", pa.int32()),
        ("revenue", pa.float64()),
        ("new_visit", pa.bool_()),
        ("pv_id", pa.string()),
        ("resolution", pa.string()),
        ("local_hour", pa.int32()),
        ("local_minute", pa.int32()),
        ("local_second", pa.int32()),
        ("lang", pa.string()),
        ("user_agent", pa.string()),
        ("ip", pa.string()),
        ("country", pa.string()),
        ("region", pa.string()),
        ("city", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("provider", pa.string()),
        ("device_type", pa.string()),
        ("device_brand", pa.string()),
        ("device_model", pa.string()),
        ("os_name", pa.string()),
        ("os_version", pa.string()),
        ("browser_name", pa.string()),
        ("browser_version", pa.string()),
        ("is_bot", pa.bool_()),
        ("referrer_type", pa.string()),
        ("referrer_name", pa.string()),
        ("referrer_keyword", pa.string()),
        ("campaign_name", pa.string()),
        ("campaign_keyword", pa.string()),
        ("campaign_source", pa.string()),
        ("campaign_medium", pa.string()),
        ("custom_variables", pa.string()),
        ("dimensions", pa.string()),
        ("performance", pa.string()),
        ("transport", pa.string()),
        ("raw_query", pa.string()),
        ("ip_key", pa.string()),
        ("ecommerce", pa.string()),
        ("order_id", pa.string()),
        ("attributed_type", pa.string()),
        ("attributed_name", pa.string()),
        ("attributed_keyword", pa.string()),
        ("url_fragment", pa.string()),
    ]
)


@dataclass
class LoadResult:
    segments_read: int = 0
    loaded: int = 0
    bots_dropped: int = 0
    quarantined: int = 0
    skipped_bytes: int = 0
    segments_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Batch:
    rows: list[tuple[Any, ...]]
    quarantine: list[tuple[int, str | None, str, str]]
    bots: int = 0


def load_hits(
    warehouse: Warehouse,
    settings: Settings,
    *,
    durable: Callable[[], tuple[str, int]] | None = None,
    now: float | None = None,
) -> LoadResult:
    """Load every complete record not loaded yet; then apply the log's retention.

    ``durable`` (from a running ``HitLog``) bounds the active segment to the bytes already
    synced, so a record is never loaded before its request could be acknowledged.
    """
    directory = Path(settings.web.hit_log_dir)
    result = LoadResult()
    paths = segment_paths(directory) if directory.exists() else []
    if not paths:
        return result
    # one session for the whole load: this thread's salt reads and the writer thread's
    # commits share the open database instead of opening the file again each time
    with warehouse.session():
        progress = hitlog.progress(warehouse)
        sites = _site_rules(warehouse)
        salts = DaySalts(warehouse)
        for index, path in enumerate(paths):
            sealed = index < len(paths) - 1
            start, was_sealed = progress.get(path.name, (0, False))
            limit = None
            if durable is not None and not sealed:
                name, size = durable()
                limit = size if name == path.name else None
            end_of_data = limit if limit is not None else path.stat().st_size
            if start >= end_of_data and (was_sealed or not sealed):
                continue
            result.segments_read += 1
            position = _Position(path, start, sealed, limit, path.name in progress, was_sealed)
            _load_segment(warehouse, settings, position, sites, salts, result)
    result.segments_deleted = _apply_retention(warehouse, directory, settings, now)
    return result


@dataclass
class _Position:
    path: Path
    start: int
    sealed: bool  # a later segment exists: this one will not grow
    limit: int | None  # synced bytes of the active segment, when a writer runs
    known: bool  # the segment has a row in the hit log's progress (meta.hitlog)
    complete: bool  # that row says the segment was read to its end after it was sealed


def _load_segment(
    warehouse: Warehouse,
    settings: Settings,
    position: _Position,
    sites: dict[int, _SiteRules],
    salts: DaySalts,
    result: LoadResult,
) -> None:
    """Load a segment batch by batch; while one batch is written, the next is prepared.

    Writing a batch (DuckDB: the insert, the commit) runs without Python's lock and costs
    about as much CPU as preparing one (benchmarks/README.md, "where a loaded hit's CPU
    goes"), so a long segment's batches are committed by one writer thread while this
    thread reads and prepares the next: two cores share a backfill. Commits stay in order
    and one at a time (each waits for the one before it), so the offset still moves with
    exactly the rows before it; a failed commit stops the segment there. The last batch of
    a read (and a load of one batch: the live server's) is committed here, as before.
    """
    path, start, sealed = position.path, position.start, position.sealed
    batch_size = settings.web.load_batch_records
    known = [position.known]  # the segment's row exists once a batch has committed
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hit-writer") as writer:
        pending: Future[None] | None = None
        while True:
            found = read_segment(
                path, start, sealed=sealed, limit=position.limit, max_records=batch_size
            )
            if not found.records and found.end == start and (position.complete or not sealed):
                break
            last = len(found.records) < batch_size
            complete = sealed and last
            batch = _prepare(found.records, path.name, settings, sites, salts)
            if pending is not None:
                pending.result()  # the batch before commits first (or its error stops here)
            job = (warehouse, path.name, batch, found, complete, known, result)
            if last:
                _write(*job)
                break
            pending = writer.submit(_write, *job)
            start = found.end
        if pending is not None:
            pending.result()


def _write(
    warehouse: Warehouse,
    segment: str,
    batch: _Batch,
    found: Scan,
    complete: bool,
    known: list[bool],
    result: LoadResult,
) -> None:
    """Commit one prepared batch with its segment's new offset, and count it."""
    _commit(warehouse, segment, batch, found.end, found.skipped_bytes, complete, known[0])
    known[0] = True
    result.loaded += len(batch.rows)
    result.bots_dropped += batch.bots
    result.quarantined += len(batch.quarantine)
    result.skipped_bytes += found.skipped_bytes
    if found.skipped_bytes:
        logger.warning("%s: skipped %d damaged or torn bytes", segment, found.skipped_bytes)


def _prepare(
    records: list[Record],
    segment: str,
    settings: Settings,
    sites: dict[int, _SiteRules],
    salts: DaySalts,
) -> _Batch:
    batch = _Batch([], [])
    stem = segment.removesuffix(".hitlog")
    for record in records:
        hit_id = f"{stem}:{record.offset}"
        try:
            row = _row(hit_id, json.loads(record.payload), settings, sites, salts)
        except Exception as error:  # one bad record must not stop the log from loading
            reason = error.reason if isinstance(error, Rejected) else f"unreadable record: {error}"
            field = error.field if isinstance(error, Rejected) else None
            batch.quarantine.append(
                (
                    record.offset,
                    field,
                    reason,
                    record.payload.decode("utf-8", errors="replace"),
                )
            )
            continue
        if row is None:
            batch.bots += 1
            continue
        batch.rows.append(row)
    return batch


def _row(
    hit_id: str,
    record: dict[str, Any],
    settings: Settings,
    sites: dict[int, _SiteRules],
    salts: DaySalts,
) -> tuple[Any, ...] | None:
    """The web.hits row of one record (in SCHEMA order), or None for a bot hit that did not
    ask to be kept."""
    received_at = _received_at(record["t"])
    params = parse_query(record["q"])
    hit = parse_hit(
        params,
        received_at=received_at,
        authenticated=bool(record["auth"]),
        peer_ip=record.get("ip"),
        header_ua=record.get("ua"),
        header_lang=record.get("lang"),
    )
    device = detect_device(hit.user_agent)
    if device.is_bot and not hit.keep_bots:
        return None
    rules = sites.get(hit.idsite) or _SiteRules(frozenset())
    url = hit.url
    if hit.kind == "pageview" and rules.sitesearch:
        # a page URL with a site search keyword parameter is a site search (Matomo's
        # plugins/Actions/Actions/ActionSiteSearch.php; tally.web.pageurl)
        found = _site_search(hit.url, rules.keyword_parameters, rules.category_parameters)
        if found is not None:
            hit.kind = "search"
            hit.search_keyword, hit.search_category = found.keyword, found.category
            hit.search_count = found.count
            url = found.url
    fragment = None
    if not rules.keep_fragment and url and "#" in url:
        # Matomo stores page URLs without the fragment unless the site keeps them
        # (core/Tracker/PageUrl.php); the raw URL (hit.url) still gave the site search above
        # and gives the campaign below, the fragment kept apart gives URL goals theirs.
        # Outlink and download URLs (link_url) keep theirs.
        url, fragment = url.split("#", 1)
    referrer = _referrer(hit.url, hit.urlref, hit.campaign, rules.hosts)
    credited = attribution(hit.attribution, rules.hosts) if hit.attribution else None
    # The full address, before it is anonymised below (Matomo's default too); &dp=1 is
    # Matomo's switch to skip the provider (its log importer sends it).
    network = network_of(hit.client_ip, settings.web.provider_lookup)
    if params.get("dp", "0") not in ("", "0"):
        network = Network(country=network.country)
    facts = vars(hit)  # the hit is this row's alone: its attributes become the row's facts
    facts.update(
        hit_id=hit_id,
        url=_without_excluded(url, rules.excluded),
        ip_key=salts.ip_key(hit.idsite, hit.hit_time, hit.client_ip),
        country=hit.country or network.country,
        provider=network.provider,
        ip=anonymise_ip(hit.client_ip, settings.web.ip_anonymise_bytes),
        device_type=device.type,
        device_brand=device.brand,
        device_model=device.model,
        os_name=device.os_name,
        os_version=device.os_version,
        browser_name=device.browser_name,
        browser_version=device.browser_version,
        is_bot=device.is_bot,
        referrer_type=referrer.type,
        referrer_name=referrer.name,
        referrer_keyword=referrer.keyword,
        campaign_name=referrer.campaign_name,
        campaign_keyword=referrer.campaign_keyword,
        campaign_source=referrer.campaign_source,
        campaign_medium=referrer.campaign_medium,
        attributed_type=credited.type if credited else None,
        attributed_name=credited.name if credited else None,
        attributed_keyword=credited.keyword if credited else None,
        url_fragment=fragment,
        transport=record.get("via", "get"),
        raw_query=record["q"],
    )
    row: tuple[Any, ...] = _in_order(facts)
    return row


COLUMNS = tuple(SCHEMA.names)
_in_order = itemgetter(*COLUMNS)  # every column is a key of a row's facts


# A bulk shares one receive time, and a site's pages repeat their referrers: both are
# worked out once (the caches are small and bounded).
@lru_cache(maxsize=1024)
def _received_at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


_REFERRERS: dict[tuple[Any, ...], Referrer] = {}


def _referrer(
    url: str | None,
    urlref: str | None,
    campaign: dict[str, str],
    hosts: frozenset[str],
) -> Referrer:
    """``classify``, remembered: it is pure, and the key holds everything it reads."""
    key = (url, urlref, hosts, tuple(campaign.items()))
    found = _REFERRERS.get(key)
    if found is None:
        if len(_REFERRERS) > 50_000:
            _REFERRERS.clear()
        found = _REFERRERS[key] = classify(url, urlref, hosts, campaign)
    return found


# Pure functions of a page URL and the site's settings; a site's pages repeat.
_site_search = lru_cache(maxsize=16_384)(search_in_url)
_without_excluded = lru_cache(maxsize=16_384)(without_excluded_params)


def _table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows in SCHEMA order as one Arrow table, built column by column."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    arrays = [pa.array(column, type=f.type) for column, f in zip(columns, SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _commit(
    warehouse: Warehouse,
    segment: str,
    batch: _Batch,
    end: int,
    skipped: int,
    sealed: bool,
    known: bool,
) -> None:
    """Insert the batch and move the segment's offset in one transaction."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with warehouse.transaction():
        if batch.rows:
            # append() joins this transaction (DuckDB: same transaction; PostgreSQL: a
            # savepoint inside it), so the rows and the offset commit or vanish together.
            warehouse.append("web.hits", _table(batch.rows))
        hitlog.advance(warehouse, segment, end, len(batch.rows), skipped, sealed, now, known=known)
        quarantine.add_hits(warehouse, segment, batch.quarantine, now)


@dataclass(frozen=True)
class _SiteRules:
    """What the loader needs of a site: its hosts (referrers from them are internal) and
    Matomo's URL settings (excluded parameters, site search read from page URLs)."""

    hosts: frozenset[str]
    excluded: frozenset[str] = frozenset()
    sitesearch: bool = True
    keyword_parameters: tuple[str, ...] = SEARCH_KEYWORD_PARAMETERS
    category_parameters: tuple[str, ...] = ()
    keep_fragment: bool = False


def _site_rules(warehouse: Warehouse) -> dict[int, _SiteRules]:
    return {
        site.idsite: _SiteRules(
            hosts=frozenset(hosts_of(site.urls)),
            excluded=frozenset(name.lower() for name in site.excluded_parameters),
            sitesearch=site.sitesearch,
            keyword_parameters=tuple(site.keyword_parameters),
            category_parameters=tuple(site.search_category_parameters),
            keep_fragment=site.keep_url_fragment,
        )
        for site in list_sites(warehouse)
    }


def _apply_retention(
    warehouse: Warehouse, directory: Path, settings: Settings, now: float | None
) -> int:
    """Delete sealed, fully loaded segments older than ``web.retention_days``."""
    cutoff = (now if now is not None else time.time()) - settings.web.retention_days * 86400
    done = hitlog.sealed_segments(warehouse)
    deleted = 0
    for path in segment_paths(directory)[:-1]:
        if path.name in done and path.stat().st_mtime <= cutoff:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


# One key for every tally process on a database: "tally" + "v" (visits) as an integer.
SESSIONIZE_LOCK_KEY = 0x74616C6C7976


def sessionize_alone(
    warehouse: Warehouse, settings: Settings | None = None, **options: Any
) -> SessionizeResult:
    """``sessionize`` as the only run on this warehouse, then cookieless salts expired.

    Runs share ``web.dirty_days``, so two at once (the server's loader and ``tally web
    sessionize``) would rebuild each other's days: ``exclusive`` makes the second run wait
    for the first (across processes where the warehouse has such locks; where it allows
    one writing process, that process's own lock is enough). With
    ``settings``, salts of days older than ``web.salt_days`` are deleted afterwards, so a
    cookieless visitor's hash cannot be linked across days by anyone holding the database.
    """
    with warehouse.session(), warehouse.exclusive(SESSIONIZE_LOCK_KEY):
        result = sessionize(warehouse, **options)
        if settings is not None:
            today = dt.datetime.now(dt.UTC).date()
            forget_salts(warehouse, today - dt.timedelta(days=settings.web.salt_days))
    return result
