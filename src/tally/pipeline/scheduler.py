"""The scheduler: start each source's daily job when its schedule says, catching up missed days.

A source's schedule is a cron expression in a time zone, from its settings::

    [sources.viu-premium]
    schedule = "30 6 * * *"              # every day 06:30 ...
    schedule_timezone = "Asia/Hong_Kong" # ... Hong Kong time
    lag_days = 1                         # the job at 06:30 on the 9th loads the 8th

(itunes has a default ``schedule`` and ``schedule_timezone``, Apple's reports after 8 AM
Pacific, used once its API key is configured.) A source without a schedule is not started.

Each firing becomes one partition (source, day). On every tick the scheduler looks back
``catch_up_days`` for firings whose partition has no successful ``scheduled`` ledger row,
so the days it missed while down are run, oldest first. A partition is locked with an OS
file lock under ``<data_dir>/locks`` while it runs, so two schedulers (or a scheduler and a
``tally serve``) never run the same partition at once; the lock dies with its process.
A partition that failed ``max_attempts`` times waits for a person (``tally backfill``);
one whose files are not published yet is ``not_ready`` in the ledger and tried again on the
next tick without counting, until its dataset's deadline passes (then it fails, and alerts).
Datasets that already landed are not downloaded again on those retries (``run_day``).
The OS lock covers one machine; with ``server.scheduler_lease_url`` schedulers on several
machines elect one leader by a lease in JetStream (``tally.pipeline.leadership``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter

from tally.config import Settings
from tally.errors import ConfigError
from tally.pipeline.context import Context
from tally.pipeline.leadership import Leadership
from tally.pipeline.ledger import Ledger, abandon_dead_steps, new_run_id
from tally.pipeline.run import run_day
from tally.sources import all_datasets
from tally.sources._settings import source_settings
from tally.sources.settings import ItunesSettings
from tally.warehouse.meta import runs as ledger

JOB = "scheduled"
DEFAULT_CATCH_UP_DAYS = 7
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Schedule:
    source: str
    cron: str
    timezone: str
    lag_days: int = 1

    def partitions(self, since: dt.datetime, until: dt.datetime) -> list[dt.date]:
        """Partition days of the firings in ``(since, until]`` (aware datetimes)."""
        zone = ZoneInfo(self.timezone)
        cursor = croniter(self.cron, since.astimezone(zone))
        days: list[dt.date] = []
        while True:
            fired = cursor.get_next(dt.datetime)
            if fired > until:
                return days
            day = fired.astimezone(zone).date() - dt.timedelta(days=self.lag_days)
            if day not in days:
                days.append(day)


@dataclass
class ScheduledRun:
    source: str
    day: dt.date
    status: str  # "ok", "failed", "not_ready", "locked"
    detail: str = ""


def schedules(settings: Settings) -> list[Schedule]:
    """The schedule of every source that has one, checked."""
    found = []
    for source in sorted({dataset.source for dataset in all_datasets().values()}):
        config = source_settings(settings, source)
        cron, zone = config.get("schedule"), config.get("schedule_timezone", "UTC")
        itunes = settings.section(ItunesSettings)
        if source == "itunes" and not itunes.key_id and "schedule" not in itunes.model_fields_set:
            continue  # Apple's default time, once there is a key to call Apple with
        if not cron:
            continue
        if not croniter.is_valid(str(cron)):
            raise ConfigError(f"sources.{source}.schedule: {cron!r} is not a cron expression")
        try:
            ZoneInfo(str(zone))
        except (KeyError, ValueError) as error:
            raise ConfigError(
                f"sources.{source}.schedule_timezone: unknown zone {zone!r}"
            ) from error
        lag = int(config.get("lag_days", 1))
        found.append(Schedule(source, str(cron), str(zone), lag))
    return found


@contextmanager
def partition_lock(settings: Settings, source: str, day: dt.date) -> Iterator[bool]:
    """Hold the OS lock of one partition; yields False when another process holds it."""
    folder = Path(settings.data_dir) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / f"{source}-{day:%Y%m%d}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


def _running(context: Context, source: str, since: dt.date) -> set[dt.date]:
    """Partitions whose scheduled step is running now, by any process on any host (a dead
    one's step is marked abandoned by ``abandon_dead_steps``)."""
    return ledger.running_partitions(context.warehouse, JOB, source, since)


def _attempts(
    context: Context, source: str, since: dt.date
) -> tuple[set[dt.date], dict[dt.date, int]]:
    """Partitions already done, and failed-attempt counts, for one source since a day."""
    rows = ledger.attempts(context.warehouse, JOB, source, since)
    done = {day for day, status, _ in rows if status == "ok"}
    failed = {day: count for day, status, count in rows if status == "failed"}
    return done, failed


def run_due(
    context: Context,
    now: dt.datetime | None = None,
    catch_up_days: int = DEFAULT_CATCH_UP_DAYS,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    fetch: bool = True,
    may_start: Callable[[], bool] | None = None,
) -> list[ScheduledRun]:
    """Run every partition that is due and not done yet, oldest first; returns what happened.

    With ``may_start`` (one scheduler among several: ``Leadership.may_start``) a partition
    starts only while it answers True, and not while the ledger shows it running elsewhere.
    """
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=catch_up_days)
    runs: list[ScheduledRun] = []
    for schedule in schedules(context.settings):
        days = schedule.partitions(since, now)
        if not days:
            continue
        done, failed = _attempts(context, schedule.source, min(days))
        running = _running(context, schedule.source, min(days)) if may_start else set()
        for day in days:
            if day in done or day in running or failed.get(day, 0) >= max_attempts:
                continue
            if may_start is not None and not may_start():
                return runs  # no longer leading: the new leader runs the rest
            runs.append(_run_one(context, schedule.source, day, fetch, now))
    return runs


def _run_one(
    context: Context, source: str, day: dt.date, fetch: bool, now: dt.datetime | None = None
) -> ScheduledRun:
    with partition_lock(context.settings, source, day) as locked:
        if not locked:
            return ScheduledRun(source, day, "locked", "another process is running it")
        run_id = new_run_id()
        with Ledger(context.warehouse).step(run_id, JOB, source, partition_date=day) as step:
            outcome = run_day(context, day, sources=[source], fetch=fetch, now=now)
            step.rows_out = sum(outcome.loaded.values())
            if outcome.failed:
                step.status = "failed"
                step.error = "; ".join(f"{k}: {v}" for k, v in outcome.failed.items())
                return ScheduledRun(source, day, "failed", step.error)
            if outcome.not_ready:
                step.status = "not_ready"  # tried again next tick, not counted as an attempt
                step.error = "; ".join(outcome.not_ready)
                return ScheduledRun(source, day, "not_ready", step.error)
        return ScheduledRun(source, day, "ok")


def next_firing(settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """When the next scheduled job is due (None when no source has a schedule)."""
    times = [
        croniter(s.cron, now.astimezone(ZoneInfo(s.timezone))).get_next(dt.datetime)
        for s in schedules(settings)
    ]
    return min(times) if times else None


def run_forever(
    context: Context,
    stop: threading.Event,
    poll_seconds: float = 60.0,
    report: Callable[[ScheduledRun], None] | None = None,
    catch_up_days: int = DEFAULT_CATCH_UP_DAYS,
    lease: tuple[str, float] | None = None,
) -> None:
    """Tick until ``stop`` is set: run what is due, then sleep until the next firing.

    ``poll_seconds`` bounds the sleep so failed and not-yet-published partitions are
    retried. ``tally serve`` runs this in a thread; ``tally scheduler`` in the foreground.
    With a ``lease`` (url, seconds: ``server.scheduler_lease_url`` and
    ``scheduler_lease_seconds``, which the caller reads) only the scheduler holding the lease
    runs steps (``tally.pipeline.leadership``); the others wait for it.
    """
    leadership = None
    if lease is not None:
        leadership = Leadership(*lease).start()
    try:
        while not stop.is_set():
            _tick(context, leadership, report, catch_up_days)
            now = dt.datetime.now(dt.UTC)
            upcoming = next_firing(context.settings, now)
            wait = poll_seconds
            if upcoming is not None:
                wait = min(poll_seconds, max(1.0, (upcoming - now).total_seconds()))
            if leadership is not None and not leadership.leads():
                wait = min(wait, leadership.seconds / 3)  # try again soon: the lease may free
            stop.wait(wait)
    finally:
        if leadership is not None:
            leadership.stop()


def _tick(
    context: Context,
    leadership: Leadership | None,
    report: Callable[[ScheduledRun], None] | None,
    catch_up_days: int,
) -> None:
    if leadership is None:
        runs = run_due(context, catch_up_days=catch_up_days)
    elif leadership.may_start():
        abandon_dead_steps(context.warehouse)  # steps of schedulers that died, on any host
        runs = run_due(context, catch_up_days=catch_up_days, may_start=leadership.may_start)
    else:
        return
    for run in runs:
        if report:
            report(run)
