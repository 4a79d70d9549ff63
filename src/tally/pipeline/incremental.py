"""The daily build, incremental: after a new newest day is loaded, rebuild only what moved.

Each model that declares its range (``build.Range``, from ``-- @`` lines in its SQL; see
docs/ARCHITECTURE.md, "How a model declares its range") is rebuilt here, in dependency
order, for the range its inputs' changes reach, with its own SQL:

- a loaded table's change is its rows in the partitions after the last build (for a
  snapshot, the rows the newest built partition did not have);
- a model ranged by key (``@range key``) is rebuilt for the keys its inputs' changed rows
  name, one ranged ``each`` from its input's changed rows alone, replacing only the rows
  that differ; what came and went is its change, and its
  ``@moves`` say from which day that change moves the models downstream (the periods model
  gets there by its own fast path, ``extension.py``);
- a model ranged by date (``@range day/week/month/resolution``) is rebuilt from the first
  day any input moved (at the latest the first new day), its inputs narrowed by
  ``@reads``;
- a model ranged ``all`` is rebuilt whole, its change found the same way as a keyed one's.

Models without a declaration, or reading one rebuilt whole, are then rebuilt whole by
``build``. So is a model whose stored table was made by another definition (its
fingerprint differs from the one the build stored with it, or none was stored:
``fingerprints.py``), and with it every model reading it; each says why in its outcome and
its ledger step. The stored build's loaded range is ``marts.subscription_bounds``; anything else
than a new newest day after it (a day reloaded inside the built range, a partition loaded
before its first day, a ranged table missing) falls back to the full build, so the result is
always the full build's; the tests check it (tests/marts/daily_property.py). The
whole daily build is one transaction: stopped half way, it leaves the stored build as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tally.models.countries import write_countries
from tally.models.plans import write_plans
from tally.models.rates import write_rates
from tally.pipeline.build import (
    WRITTEN,
    Model,
    build,
    columns_kept,
    discover_models,
    done_with,
    few_rows,
    lookups_declared,
    moved_days,
    ordered,
    read_columns,
    rebuild_days,
    rebuild_each,
    rebuild_keys,
    rebuild_sums,
    replace_changed,
    table_columns,
    temporary,
)
from tally.pipeline.context import Context
from tally.pipeline.extension import FAST_PATHS
from tally.pipeline.fingerprints import changed, fingerprints, stored
from tally.pipeline.ledger import Ledger, new_run_id
from tally.pipeline.shared_reads import SharedReads
from tally.pipeline.statements import pipeline_fragment, pipeline_sql
from tally.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa

# the loaded range of the stored build (data_start, horizon)
BOUNDS = "marts.subscription_bounds"
DATE_GRAINS = ("day", "week", "month", "resolution")
# DuckDB threads for the daily build (None: all). One thread costs less CPU and more time:
# at 1M subscriptions at rest (marts_bench.py --reuse, 2026-12-06) one thread took 1.31-1.38
# CPU s and 1.32-1.39 s, all threads 1.56 CPU s and 1.16 s. A build's time is what its user
# waits for, so all threads; 1 suits a machine whose cores are busy with other work.
DAILY_STREAMS: int | None = None


@dataclass(frozen=True)
class Change:
    """What moved in one table: ``delta`` the temporary table of its rows that came (and,
    for a model, went: ``_old``), ``since`` the first day that moves downstream (None:
    none), ``bounded`` False when the days it moves are not known (a loaded table, a
    model without ``@moves``); ``by_reader`` the first day that moves some date-ranged
    readers apart, those reading fewer columns (``build.moved_days``), in place of
    ``since``."""

    delta: str | None
    since: dt.date | None
    bounded: bool
    by_reader: Mapping[str, dt.date | None] = field(default_factory=dict)

    def since_for(self, reader: str) -> dt.date | None:
        """The first day that moves ``reader``."""
        return self.by_reader.get(reader, self.since)


def build_day(
    context: Context,
    day: dt.date,
    run_id: str | None = None,
    chosen: list[Model] | None = None,
) -> dict[str, str]:
    """The build after ``day`` was loaded: incremental when possible, else the full build.

    ``chosen`` limits the build to some models, as ``build`` does (default: every model).
    """
    run_id = run_id or new_run_id()
    everything = chosen if chosen is not None else discover_models()
    models = {m.table: m for m in everything}
    warehouse = context.warehouse
    outcome: dict[str, str] = {}
    # one connection for the whole step: DuckDB would otherwise reopen (and checkpoint) the
    # file for every statement; no mart's rows have an order (every reader sorts or groups),
    # and keeping the order read halves DuckDB's speed on two cores; DAILY_STREAMS threads
    with warehouse.session(), warehouse.unordered(DAILY_STREAMS):
        tables = _tables(warehouse)
        before = stored(warehouse)
        hashing = warehouse.capabilities.hash_function
        current = fingerprints(everything, context.settings, before, hashing)
        # a table another definition made (an upgrade of tally, changed settings) is
        # rebuilt whole, as one not built yet: so is every model reading it (_ranged)
        whole = changed(current, before, everything, tables)
        loaded = _loaded(warehouse, models, tables)
        ranged = _ranged(models, loaded, tables - set(whole))
        built = _built_range(warehouse, ranged, loaded, tables)
        if built is not None and day > built[1]:
            ledger = Ledger(warehouse)
            with ledger.step(run_id, "build", dataset=f"incremental {day}") as step:
                # all or nothing: a build stopped half way would leave the new horizon with
                # the old marts, and the next day's build would take the day as done; the
                # session closes right after, so the commit writes the rows once, to the
                # file (DuckDB: not to the WAL, then again by the checkpoint on close)
                with warehouse.direct_commits(), warehouse.transaction():
                    outcome = _rebuild(context, ranged, loaded, built[1])
                    step.rows_out = len(outcome)
                    # the step's end commits with the build: nothing is left to write
                    # (and checkpoint) when the session closes
                    ledger.finish(step)
    if built is None or day <= built[1]:
        # no build yet, or a reload inside the built range: outside the session, so the full
        # build holds the warehouse one model at a time
        return build(context, everything, run_id, current, whole)
    rest = [m for m in models.values() if m.table not in outcome]
    if rest:  # else nothing is left to build: not even the countries and plans to rewrite
        outcome.update(build(context, rest, run_id, current, whole))
    return outcome


def _tables(warehouse: Warehouse) -> set[str]:
    """Every table in the warehouse, in one catalogue query (not one per table)."""
    found = warehouse.rows("SELECT table_schema, table_name FROM information_schema.tables")
    return {f"{schema}.{name}" for schema, name in found}


def _loaded(warehouse: Warehouse, models: dict[str, Model], tables: set[str]) -> dict[str, bool]:
    """The loaded tables the ranged models read (inputs no model here writes, with
    partitions), each with whether a model declares it a snapshot."""
    snapshots = {t for m in models.values() if m.range for t in m.range.snapshots}
    inputs = {t for m in models.values() if m.range for t in m.reads}
    return {
        table: table in snapshots
        for table in sorted(inputs - set(models) - WRITTEN)
        if table in tables and "_partition_date" in warehouse.columns(table)
    }


def _ranged(models: dict[str, Model], loaded: dict[str, bool], tables: set[str]) -> list[Model]:
    """The models rebuilt here, in dependency order: those with a declared range whose
    inputs are all rebuilt here before them, written by the build, loaded, or not models
    of this build, and whose inputs' changes say what they need: a date-ranged model needs
    the days (not a loaded table, not a keyed model without ``@moves``), a keyed one the
    rows (not a date-ranged model). A model reading a model rebuilt whole is rebuilt whole
    too, after the others, as is a model whose table is not there yet (a mart added since
    the last build)."""
    ranged: list[Model] = []
    days_known: set[str] = set()  # rebuilt here, with the first day their change moves
    rows_known: set[str] = set(loaded)  # loaded or rebuilt here, with their changed rows
    for model in ordered(list(models.values())):
        declared = model.range
        if declared is None or model.table not in tables:
            continue
        tracked = {t for t in model.reads if t in models or t in loaded}
        if declared.grain in DATE_GRAINS:
            needed = days_known
        elif declared.grain in ("key", "sums"):
            needed = rows_known
        elif declared.grain == "each":
            needed = rows_known if declared.column in rows_known else set()
        else:  # "all": rebuilt whole, its inputs need only be up to date
            needed = days_known | rows_known
        if not tracked <= needed:
            continue
        if declared.stores is not None and loaded.get(declared.stores) is not False:
            continue  # its stored rows stand for the built partitions of a loaded input only
        ranged.append(model)
        if declared.grain in DATE_GRAINS or declared.moves:
            days_known.add(model.table)
        if declared.grain not in DATE_GRAINS:
            rows_known.add(model.table)
    return ranged


def _built_range(
    warehouse: Warehouse, ranged: list[Model], loaded: dict[str, bool], tables: set[str]
) -> tuple[dt.date, dt.date] | None:
    """(first day, horizon) of the stored build when the incremental build can extend it:
    every ranged model's table exists and no partition before the first built day was
    loaded since; otherwise ``None``."""
    if not warehouse.capabilities.rewrites_rows:
        return None  # its tables are only replaced whole (Spark): the full build it is
    needed = {BOUNDS} | {t for m in ranged for t in (m.table, *m.reads)}
    if not ranged or not needed <= tables:
        return None
    old = warehouse.rows(f"SELECT data_start, horizon FROM {BOUNDS}")
    if not old or old[0][1] is None:
        return None
    for table in loaded:
        first = warehouse.rows(f"SELECT min(_partition_date) FROM {table}")[0][0]
        if first is not None and first < old[0][0]:
            return None
    return old[0][0], old[0][1]


def _rebuild(
    context: Context, ranged: list[Model], loaded: dict[str, bool], horizon: dt.date
) -> dict[str, str]:
    """Rebuild each ranged model for the range its inputs' changes reach; returns model →
    what was done."""
    warehouse = context.warehouse
    # no step here changes a table's columns: each table's are asked for once
    with _aside(warehouse) as aside, columns_kept(), lookups_declared(ranged):
        # the stored rows a stored input's new rows may revise, read aside first (the first
        # model needs them); then the loaded tables' changes: a snapshot's is read aside
        # while this thread writes the tables from settings and optional sources
        for n, model in enumerate(ranged):
            _probe_aside(warehouse, model, horizon, f"probed_{n}", aside)
        changes = {
            table: _loaded_change(warehouse, table, snapshot, horizon, f"delta_{n}", aside)
            for n, (table, snapshot) in enumerate(loaded.items())
        }
        # the tables written from settings and optional sources (countries, plan names,
        # exchange rates) before the models, as the full build does: the new days' rows
        # convert at their own day's rate
        write_countries(warehouse, context.settings)
        write_plans(warehouse)
        write_rates(warehouse, context.settings)
        return _rebuild_models(warehouse, ranged, changes, len(loaded), horizon, aside)


class _Aside:
    """Reads run on another connection of the warehouse, in a thread, while this thread's
    build goes on (where ``capabilities.reads_aside``): a snapshot's change, an ``EXCEPT``
    of two days' exports that only reads loaded tables, runs beside the first models
    (0.2 s of CPU at 1M subscriptions, most of it no longer waited for). Each read's rows
    become the session's temporary table of the same name when a model needs them."""

    def __init__(self, warehouse: Warehouse, pool: ThreadPoolExecutor | None) -> None:
        self.warehouse = warehouse
        self.pool = pool
        self.pending: dict[str, Future[pa.Table]] = {}

    def temporary(self, table: str, select_sql: str) -> None:
        """The temporary ``table`` of a SELECT of committed tables only: read aside, or
        here and now where the warehouse cannot."""
        if self.pool is None:
            temporary(self.warehouse, table, select_sql)
        else:
            self.pending[table] = self.pool.submit(self.warehouse.query, select_sql)

    def ready(self, tables: list[str | None]) -> None:
        """Make the temporary tables of those of ``tables`` read aside."""
        for table in tables:
            found = self.pending.pop(table, None) if table is not None else None
            if table is not None and found is not None:
                rows = found.result()
                view = self.warehouse.arrow_view(rows)  # type: ignore[attr-defined]
                with view as name:
                    temporary(self.warehouse, table, f"SELECT * FROM {name}")


@contextmanager
def _aside(warehouse: Warehouse) -> Iterator[_Aside]:
    """An ``_Aside`` for the block; every read it started is done when the block ends."""
    if not warehouse.capabilities.reads_aside:
        yield _Aside(warehouse, None)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="daily-aside") as pool:
        aside = _Aside(warehouse, pool)
        try:
            yield aside
        finally:
            for found in aside.pending.values():
                found.cancel()
            aside.pending.clear()


def _rebuild_models(
    warehouse: Warehouse,
    ranged: list[Model],
    changes: dict[str, Change],
    loaded: int,
    horizon: dt.date,
    aside: _Aside,
) -> dict[str, str]:
    """The models' part of ``_rebuild``: ``changes`` holds the loaded tables' changes
    (``loaded`` of them), some still being read ``aside``."""
    outcome: dict[str, str] = {}
    counted: dict[str, str] = {}  # model -> its delta, counted at the end
    shared = SharedReads(warehouse, ranged)
    for n, model in enumerate(ranged):
        declared = model.range
        assert declared is not None
        shared.forget(model.table)  # (kept only after it is rebuilt: never the case today)
        inputs = [changes[t] for t in sorted(model.reads) if t in changes]
        if declared.grain in DATE_GRAINS:
            moved = [d for c in inputs if (d := c.since_for(model.table)) is not None]
            since = min([horizon + dt.timedelta(days=1), *moved])
            rebuild_days(warehouse, model, since)
            changes[model.table] = Change(None, since, True)
            outcome[model.table] = f"incremental from {since}"
            continue
        delta = f"delta_{loaded + n}"
        if declared.grain == "all" and not _reached(warehouse, model, changes, aside):
            # no changed row of its inputs can change its rows: none came or went
            temporary(warehouse, delta, f"SELECT *, false AS _old FROM {model.table} WHERE false")
        elif declared.grain == "sums":
            aside.ready([c.delta for c in inputs])
            deltas = _summed_deltas(model, changes, ranged)
            named = _summed_keys(warehouse, model, changes, horizon) if deltas else None
            if deltas is None or named is None:
                replace_changed(warehouse, model, f"SELECT * FROM {model.table}", model.sql, delta)
            else:
                keys = f"keys_{n}"
                nothing = f"SELECT NULL AS {declared.column} WHERE false"
                temporary(warehouse, keys, " UNION ".join(named) or nothing)
                uniques = {m.table: m.range.unique for m in ranged if m.range and m.range.unique}
                rebuild_sums(warehouse, model, keys, deltas, horizon, delta, uniques)
        elif declared.grain == "all" or _changed_everywhere(warehouse, model, changes, aside):
            replace_changed(warehouse, model, f"SELECT * FROM {model.table}", model.sql, delta)
        elif declared.grain == "each":
            source = changes[str(declared.column)].delta
            assert source is not None
            aside.ready([source])
            rebuild_each(warehouse, model, source, delta)
        else:
            keys = f"keys_{n}"
            aside.ready([c.delta for c in inputs])
            named = _named_keys(model, changes)
            stored_input = changes[declared.stores].delta if declared.stores else None
            # (a stored input is a loaded one, not a snapshot: _ranged)
            if stored_input is not None:
                # a changed row of the stored input reaches the key its stored row had
                aside.ready([f"probed_{n}"])
                named.append(_stored_keys(model, stored_input, f"probed_{n}"))
            nothing = ", ".join(f"NULL AS {c}" for c in declared.keys)
            temporary(warehouse, keys, " UNION ".join(named) or f"SELECT {nothing}")
            fast_path = FAST_PATHS.get(model.table)
            if fast_path is not None:
                aside.ready([c.delta for c in changes.values()])  # it reads every change
                deltas = {t: c.delta for t, c in changes.items() if c.delta is not None}
                fast_path(warehouse, model, keys, {**deltas, model.table: delta}, horizon)
            else:
                kept = _kept_reads(shared, model, keys, changes, aside)
                days = None  # (the keys with their first changed day, for @settled)
                if declared.settled is not None:
                    days = f"since_{n}"
                    temporary(warehouse, days, _settled_since(model, keys, changes))
                rebuild_keys(warehouse, model, keys, delta, stored_input, kept, days)
        if declared.moves:
            firsts = moved_days(warehouse, model, delta, _readers(model, ranged))
            changes[model.table] = Change(delta, firsts.pop(model.table), True, firsts)
        else:
            changes[model.table] = Change(delta, None, False)
        outcome[model.table] = ""  # (in order: its delta is counted below)
        counted[model.table] = delta
    _count_deltas(warehouse, outcome, counted)
    keyed = [
        n for n, m in enumerate(ranged) if m.range is not None and m.range.grain in ("key", "sums")
    ]
    done_with(
        warehouse,
        [c.delta for c in changes.values() if c.delta]
        + [f"{kind}_{n}" for n in keyed for kind in ("keys", "probed", "since")],
    )  # (only the keyed models made keys and probes: a DROP costs a statement)
    return outcome


def _readers(model: Model, ranged: list[Model]) -> dict[str, frozenset[str]]:
    """The date-ranged models reading ``model`` (rebuilt from the first day a change of
    its rows moves them), each with the columns of it they may read, where they may read
    fewer than all (``build.read_columns``)."""
    found = {}
    for reader in ranged:
        if reader.range is None or reader.range.grain not in DATE_GRAINS:
            continue
        if model.table in reader.reads:
            columns = read_columns(reader, model.table)
            if columns is not None:
                found[reader.table] = columns
    return found


def _named_keys(model: Model, changes: dict[str, Change]) -> list[str]:
    """The SELECTs of the keys a keyed model's inputs' changed rows name: an input's rows
    meeting its ``@reaches`` condition, where it declares one (the others cannot change the
    model's rows), and no key from an ``@every`` input (had it changed, the model was
    rebuilt whole)."""
    declared = model.range
    assert declared is not None
    named = []
    for table in sorted(model.reads - set(declared.every)):
        delta = changes[table].delta if table in changes else None
        if delta is not None:
            named.append(_keys_of(model, table, delta))
    return named


def _keys_of(model: Model, table: str, delta: str) -> str:
    """The SELECT of the keys an input's changed rows (``delta``) name: those meeting its
    ``@reaches`` condition where it declares one."""
    declared = model.range
    assert declared is not None
    condition = dict(declared.reaches).get(table)
    where = f" WHERE {condition}" if condition else ""
    return f"SELECT {declared.column} FROM {delta}{where}"


def _summed_deltas(
    model: Model, changes: dict[str, Change], ranged: list[Model]
) -> dict[str, str] | None:
    """Input -> its changed rows, for a sums model (``build.rebuild_sums``) whose inputs
    are all models rebuilt here before it, each with its rows that came and went; None
    otherwise (a loaded input, whose change a snapshot's EXCEPT may not give row for row,
    or one whose rows are not known: the model is then rebuilt whole)."""
    rebuilt = {m.table for m in ranged}
    deltas = {}
    for table in sorted(model.reads):
        change = changes.get(table)
        if table not in rebuilt or change is None or change.delta is None:
            return None
        deltas[table] = change.delta
    return deltas


def _summed_keys(
    warehouse: Warehouse, model: Model, changes: dict[str, Change], built: dt.date
) -> list[str] | None:
    """The SELECTs of the keys a sums model is rebuilt for: those its inputs' changed rows
    name (meeting their ``@reaches`` condition), and those of the rows its ``@horizon``
    lines pick (whose sums a new newest day moves: ``{built}`` the stored build's
    horizon, ``{horizon}`` the new one). An input whose rows lack the key
    column reaches keys only through those lines, and only the stored build's bounds may
    (their horizon moves every day; their first day never does in a daily build,
    ``_built_range``): a changed row of another such input returns None (rebuilt whole)."""
    declared = model.range
    assert declared is not None and declared.column is not None
    named = []
    for table in sorted(model.reads):
        delta = changes[table].delta
        assert delta is not None  # (_summed_deltas)
        if declared.column in table_columns(warehouse, delta):
            named.append(_keys_of(model, table, delta))
        elif (table != BOUNDS or not declared.horizon) and _has_row(warehouse, delta):
            return None
    newest = warehouse.rows(f"SELECT horizon FROM {BOUNDS}")[0][0] if declared.horizon else None
    for table, condition in declared.horizon:
        # the two horizons as literals: the scan tests them on each row (a subquery's
        # value made DuckDB join every row to it, ~0.05 CPU s at 1M subscriptions)
        where = condition.replace("{built}", f"DATE '{built}'")
        where = where.replace("{horizon}", f"DATE '{newest}'")
        named.append(f"SELECT {declared.column} FROM {table} WHERE {where}")
    return named


def _settled_since(model: Model, keys: str, changes: dict[str, Change]) -> str:
    """The SELECT of the keys in the temporary table ``keys``, each with ``_since``: the
    earliest day the changed rows of its inputs that name keys give by the model's
    ``@since`` lines, NULL when one of them gives none (a NULL day, or an input without a
    line): all the rows of that key are then compared (``build.rebuild_keys``)."""
    assert model.range is not None
    days = dict(model.range.since)
    columns = ", ".join(model.range.keys)
    changed = " UNION ALL ".join(
        f"SELECT {columns}, CAST({days.get(table, 'NULL')} AS DATE) AS _day "
        f"FROM {changes[table].delta}"
        for table in sorted(model.reads - set(model.range.every))
        if table in changes and changes[table].delta is not None
    )
    # (no changed row: every key's day unknown)
    changed = changed or f"SELECT {columns}, CAST(NULL AS DATE) AS _day FROM {keys}"
    on = " AND ".join(f"k.{c} = d.{c}" for c in model.range.keys)
    return pipeline_sql("settled_since", keys=keys, changed=changed, columns=columns, on=on)


def _reached(warehouse: Warehouse, model: Model, changes: dict[str, Change], aside: _Aside) -> bool:
    """Whether a changed row of an input of ``model`` (``@range all``) meets its input's
    ``@reaches`` condition (any changed row, for an input with none), so that the model must
    be rebuilt. An input whose changed rows are not known (a date-ranged model's, or one
    the build writes before the models) counts as reached."""
    assert model.range is not None
    conditions = dict(model.range.reaches)
    if not conditions:
        return True
    for table in sorted(model.reads):
        change = changes.get(table)
        if change is None or change.delta is None:
            return True
        aside.ready([change.delta])
        if _has_row(warehouse, change.delta, conditions.get(table, "true")):
            return True
    return False


def _changed_everywhere(
    warehouse: Warehouse, model: Model, changes: dict[str, Change], aside: _Aside
) -> bool:
    """Whether a row of an input ``model`` declares ``@every`` came or went (a change that
    reaches every key of it: the model is then rebuilt whole). One whose rows are not
    known (a date-ranged model's) counts as changed."""
    assert model.range is not None
    found = [changes[t].delta for t in model.range.every if t in changes]
    known = [delta for delta in found if delta is not None]
    if len(known) < len(found):
        return True
    aside.ready(found)
    return any(_has_row(warehouse, delta) for delta in known)


def _has_row(warehouse: Warehouse, table: str, condition: str = "true") -> bool:
    """Whether a row of ``table`` meets ``condition`` (the scan stops at the first)."""
    return bool(warehouse.rows(pipeline_sql("any_row", table=table, condition=condition))[0][0])


def _kept_reads(
    shared: SharedReads, model: Model, keys: str, changes: dict[str, Change], aside: _Aside
) -> dict[str, str]:
    """Input -> the SELECT of ``model``'s rows of it from what ``shared`` keeps, for the
    inputs it reads by keys with other models (``shared_reads.py``); the changes known so
    far foresee the later readers' keys."""
    tables = shared.shared(model)
    if not tables:
        return {}
    aside.ready([c.delta for c in changes.values()])  # (all read by now: no wait)
    # an @every input's changed rows lack its reader's key columns: they foresee no keys
    readers = {m for models in shared.readers.values() for m in models}
    every = {t for m in readers for t in (m.range.every if m.range else ())}
    deltas = {t: c.delta for t, c in changes.items() if c.delta is not None and t not in every}
    return {table: shared.read(model, table, keys, deltas) for table in tables}


def _count_deltas(warehouse: Warehouse, outcome: dict[str, str], counted: dict[str, str]) -> None:
    """The outcome of each model in ``counted`` (model -> the temporary table of its rows
    that came or went): how many rows came or went, in one statement for them all."""
    if not counted:
        return
    sizes = ", ".join(pipeline_fragment("row_count", rows=delta) for delta in counted.values())
    for table, size in zip(counted, warehouse.rows(f"SELECT {sizes}")[0], strict=True):
        outcome[table] = f"incremental: {size} rows came or went"


def _probe_aside(
    warehouse: Warehouse, model: Model, horizon: dt.date, probed: str, aside: _Aside
) -> None:
    """For a ``@stores`` model (keyed), the temporary table ``probed``, read ``aside``: the
    stored rows (range key and unique key) that the stored input's rows in the partitions
    after ``horizon`` may be new copies of. It reads committed tables only (the model's
    table as the last build left it, the loaded input), so it runs beside the first steps
    (at 1M subscriptions it scans 6.6M stored hashes: ~0.1 s of CPU no longer waited for).
    With a declared ``@probe`` column (a hash), the rows whose probe matches: one number to
    read per stored row instead of the key's text to decompress and hash again (0.23 ->
    0.03 s of CPU over 6.6M transaction ids); ``_stored_keys`` then picks among them by the
    unique key itself, so a hash shared by two keys never picks a wrong row. Where the
    warehouse has row ids (DuckDB), the narrow column is read alone, then the rows it
    picked. Nothing for a model without ``@stores``."""
    declared = model.range
    if declared is None or declared.grain != "key" or declared.stores is None:
        return
    unique = ", ".join(declared.unique)
    # the input's change (_loaded_change: a stored input is not a snapshot, _ranged)
    new_rows = f"{declared.stores} WHERE _partition_date > DATE '{horizon}'"
    if declared.probe is None:
        narrow = pipeline_fragment("keys_among", key=f"({unique})", given=unique, rows=new_rows)
    else:
        column, expression = declared.probe
        narrow = pipeline_fragment("keys_among", key=column, given=expression, rows=new_rows)
    narrow = few_rows(warehouse, model.table, narrow)
    aside.temporary(probed, f"SELECT {declared.column}, {unique} FROM {model.table} WHERE {narrow}")


def _stored_keys(model: Model, changed: str, probed: str) -> str:
    """The SELECT of the keys a ``@stores`` model's stored rows of the rows in the temporary
    table ``changed`` have (same unique key), from the rows ``_probe_aside`` read into the
    temporary table ``probed``."""
    declared = model.range
    assert declared is not None
    unique = ", ".join(declared.unique)
    exact = pipeline_fragment("keys_among", key=f"({unique})", given=unique, rows=changed)
    return f"SELECT {declared.column} FROM {probed} WHERE {exact}"


def _loaded_change(
    warehouse: Warehouse, table: str, snapshot: bool, horizon: dt.date, delta: str, aside: _Aside
) -> Change:
    """A loaded table's rows in the partitions after ``horizon``. A snapshot (every
    partition restates every row) only changes by the rows its newest built partition did
    not have, on every column but the load's own (``_`` ones), each with its partition day:
    read ``aside``."""
    new = f"_partition_date > DATE '{horizon}'"
    if not snapshot:
        temporary(warehouse, delta, f"SELECT *, false AS _old FROM {table} WHERE {new}")
        return Change(delta, None, False)
    listed = ", ".join(c for c in table_columns(warehouse, table) if not c.startswith("_"))
    # the newest built partition's day as a literal, so the scan skips the other partitions
    built = warehouse.rows(
        f"SELECT max(_partition_date) FROM {table} WHERE _partition_date <= DATE '{horizon}'"
    )[0][0]
    newest_built = f"_partition_date = DATE '{built}'" if built is not None else "false"
    change = pipeline_sql(
        "snapshot_change", table=table, listed=listed, new=new, newest_built=newest_built
    )
    aside.temporary(delta, change)
    return Change(delta, None, False)
