"""tally's own streams, polled from the warehouse: run-ledger rows, tracking hits per site
and minute, and (when configured) the subscriber count against a store's own count.

Each poller keeps a cursor (saved in the engine's checkpoint) so a restart neither loses
nor repeats rows. Connections are short-lived: DuckDB allows one writer per file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from tally.errors import ConfigError, TallyError
from tally.stream.engine import Engine
from tally.stream.events import Event
from tally.warehouse import Warehouse, connect
from tally.warehouse.meta import runs
from tally.warehouse.sqlfiles import sql_file

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
RUN_COLUMNS = (
    "step_id, run_id, job, source, dataset, partition_date, ended_at, status, "
    "rows_in, rows_out, rows_quarantined, bytes, error"
)


def epoch(value: dt.datetime | dt.date) -> float:
    """Warehouse timestamps are naive UTC; a date means its midnight."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def naive(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


class Poller:
    """Calls ``poll`` every ``every`` seconds on a thread and feeds the engine."""

    name = "poller"

    def __init__(self, engine: Engine, opener: Callable[[], Warehouse], every: float) -> None:
        self.engine = engine
        self.opener = opener
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def cursor(self) -> Any:
        return self.engine.cursors.get(self.name)

    @cursor.setter
    def cursor(self, value: Any) -> None:
        self.engine.cursors[self.name] = value

    def poll(self, warehouse: Warehouse, now: float) -> list[Event]:
        raise NotImplementedError

    def run_once(self) -> int:
        warehouse = self.opener()
        try:
            with warehouse.session():  # a poll's reads on one opening of the warehouse
                events = self.poll(warehouse, self.engine.clock())
        finally:
            warehouse.close()
        if events:
            self.engine.ingest(events)
        return len(events)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"tally-{self.name}", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """False when the poller should run but its thread has ended."""
        return self._stop.is_set() or self._thread is None or self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except TallyError as error:  # a busy or missing warehouse: try again next time
                log.warning("%s: %s", self.name, error)
            except Exception:
                log.exception("%s failed", self.name)
            if self._stop.wait(self.every):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class RunsPoller(Poller):
    """Finished ledger steps as ``tally.runs`` events keyed by source (or job)."""

    name = "runs"

    def __init__(self, *args: Any, lookback: float = 14 * 86400, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lookback = lookback

    def poll(self, warehouse: Warehouse, now: float) -> list[Event]:
        cursor = self.cursor or {"after": now - self.lookback, "steps": []}
        if not runs.exists(warehouse):
            return []  # a warehouse not migrated yet: nothing has run
        rows = runs.finished_since(warehouse, RUN_COLUMNS, naive(cursor["after"]))
        events = []
        done = set(cursor["steps"])
        for row in rows:
            if row[0] in done:
                continue
            events.append(run_event(row))
        if events:
            last = events[-1].time
            same = [e.labels["step_id"] for e in events if e.time == last]
            if last == cursor["after"]:
                same += cursor["steps"]
            self.cursor = {"after": last, "steps": same}
        return in_partition_order(events)


def in_partition_order(events: list[Event]) -> list[Event]:
    """The events, each step key's in partition order, on the times its events held.

    A backfill loads a dataset's days side by side and they end in any order, a few
    milliseconds apart; a baseline rule (rows loaded against the dataset's EWMA) must see
    the days in their own order, or 1 December's month-start drop, ended before 30 November,
    is judged against a baseline not yet warm. The times stay rising per key (the engine
    refuses an event older than the last one it kept), so a reordered event takes the end
    time of the one whose place it takes.
    """
    places: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        places.setdefault(event.labels["step_key"], []).append(index)
    ordered = list(events)
    for indexes in places.values():
        by_day = sorted((events[i] for i in indexes), key=lambda e: e.labels["partition_date"])
        for index, event in zip(indexes, by_day, strict=True):
            ordered[index] = dataclasses.replace(event, time=events[index].time)
    return ordered


def run_event(row: tuple[Any, ...]) -> Event:
    (step_id, run_id, job, source, dataset, day, ended, status, rows_in, rows_out,
     quarantined, size, error) = row  # fmt: skip
    rows_in = rows_in or 0
    values = {
        "failed": 1.0 if status == "failed" else 0.0,
        "rows_in": float(rows_in),
        "rows_out": float(rows_out or 0),
        "rows_quarantined": float(quarantined or 0),
        "bytes": float(size or 0),
        "quarantined_share": (quarantined or 0) / rows_in if rows_in else 0.0,
    }
    labels = {
        "step_id": step_id,
        "run_id": run_id,
        "job": job,
        "source": source or "",
        "dataset": dataset or "",
        "partition_date": str(day or ""),
        "status": status,
        "step_key": f"{job}:{source or '-'}/{dataset or '-'}",
        "dataset_key": f"{source or '-'}/{dataset or '-'}",
    }
    if error:
        labels["error"] = str(error)[:300]
    return Event("tally.runs", source or job, epoch(ended), values, labels)


class HitsPoller(Poller):
    """Tracking hits per site and whole minute as ``tally.hits`` events; a known site with
    no hits in a minute gets a zero, so a collapse is seen, not just a slowdown."""

    name = "hits"

    def __init__(
        self, *args: Any, table: str, site_column: str, time_column: str, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        for identifier in (table, site_column, time_column):
            if not IDENTIFIER.match(identifier):
                raise ConfigError(f"stream.hits: {identifier!r} is not a plain SQL identifier")
        self.table, self.site, self.time = table, site_column, time_column

    def poll(self, warehouse: Warehouse, now: float) -> list[Event]:
        until = (now // 60) * 60  # only whole minutes that are over
        cursor = self.cursor or {"after": until - 3600, "sites": []}
        if until <= cursor["after"] or not warehouse.table_exists(self.table):
            return []
        sql = sql_file(
            "tally.stream", "queries/hits_per_minute.sql", site=self.site, time=self.time,
            table=self.table,
        )  # fmt: skip
        rows = warehouse.rows(sql, [naive(cursor["after"]), naive(until)])
        counts = {(site, epoch(minute)): hits for site, minute, hits in rows}
        sites = sorted(set(cursor["sites"]) | {site for site, _ in counts})
        events = []
        minute = cursor["after"]
        while minute < until:
            for site in sites:
                hits = float(counts.get((site, minute), 0))
                events.append(Event("tally.hits", site, minute, {"hits": hits}, {"idsite": site}))
            minute += 60
        self.cursor = {"after": until, "sites": sites}
        return events


class QueryPoller(Poller):
    """Rows of a configured query (columns key, time, tally, store) as
    ``tally.subscribers`` events with ``gap_share = |tally - store| / store``."""

    name = "subscribers"

    def __init__(self, *args: Any, sql: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql = sql

    def poll(self, warehouse: Warehouse, now: float) -> list[Event]:
        after = self.cursor or -1.0
        events = []
        for key, when, tally, store in warehouse.rows(self.sql):
            time = epoch(when) if isinstance(when, dt.date) else float(when)
            if time <= after:
                continue
            gap = abs(tally - store) / store if store else (0.0 if tally == store else 1.0)
            values = {"tally": float(tally), "store": float(store), "gap_share": float(gap)}
            events.append(Event("tally.subscribers", str(key), time, values, {"store": str(key)}))
        if events:
            self.cursor = max(e.time for e in events)
        return events


def opener(url: str, lock_wait: float) -> Callable[[], Warehouse]:
    return lambda: connect(url, lock_wait_seconds=lock_wait)
