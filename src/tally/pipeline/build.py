"""Build: run the SQL models in dependency order, the order read from the SQL itself.

A model is one SELECT in DuckDB's dialect in ``tally/models/<schema>/<table>.sql``; it
becomes the table ``<schema>.<table>``. sqlglot finds the tables each model reads, so a
model that reads another runs after it, and a model whose inputs are not in the warehouse
yet (a source not configured) is skipped and said so, not failed.

A model may also declare how it is rebuilt for a range of days (``Range``, read from its
``-- @`` comment lines; docs/ARCHITECTURE.md, "How a model declares its range"): the
daily build (``incremental.py``) then rebuilds only that range, with the model's own SQL
(``rebuild_days``, ``rebuild_keys``), its inputs narrowed to the rows that can reach the
range (``narrowed``).
"""

from __future__ import annotations

import datetime as dt
import graphlib
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from tally.errors import ConfigError
from tally.models.countries import write_countries
from tally.models.plans import write_plans
from tally.models.rates import write_rates
from tally.pipeline.context import Context
from tally.pipeline.ledger import Ledger, new_run_id
from tally.pipeline.statements import pipeline_fragment, pipeline_sql
from tally.warehouse import Warehouse

if TYPE_CHECKING:
    from tally.pipeline.fingerprints import Fingerprint

MODELS_PACKAGE = "tally.models"
# tables the build writes from settings and code before the models (countries, plan
# names, exchange rates)
WRITTEN = frozenset(
    {
        "marts.dim_country",
        "marts.dim_plan",
        "marts.dim_exchange_rate",
        "marts.dim_exchange_rate_day",
    }
)
GRAINS = ("day", "week", "month", "resolution", "key", "each", "all", "sums")
RESOLUTIONS = {"daily": "day", "weekly": "week", "monthly": "month"}
DECLARATION = re.compile(r"^--\s*@(\w+)\b\s*(.*?)\s*$")
KEYWORDS = frozenset(
    {
        "range",
        "unique",
        "reads",
        "moves",
        "snapshot",
        "stores",
        "probe",
        "every",
        "reaches",
        "lookup",
        "since",
        "settled",
        "horizon",
    }
)
# how a model's table is stored, declared beside its range but not part of it
STORAGE_KEYWORDS = frozenset({"uncompressed"})
# the column of a keyed rebuild's stored rows holding each row's row id in the model's
# table, where the warehouse has row ids (``rebuild_keys`` with ``@settled``)
ROW_ID = "_row_id"
# how long a full build keeps a warehouse one process holds whole (a DuckDB file) open
# across models before letting it go between two (``Held``)
HOLD_SECONDS = 2.0


@dataclass(frozen=True)
class Moves:
    """A change of a row in ``columns`` (``("*",)``: any column; a row that came or went
    counts as every column) moves the models downstream from the day ``day`` gives, an
    SQL expression over the row."""

    day: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Range:
    """How a model is rebuilt for a range of days (declared in its SQL, see module doc).

    ``grain``: "day", "week", "month" (rows whose ``column`` is on or after the first
    changed day, or its week's or month's first day), "resolution" (the same per row,
    by the grain its ``resolution`` column names: daily / weekly / monthly), "key" (rows
    whose ``column`` is among the keys the inputs' changed rows name; ``column`` may list
    several, ``a, b``), "each" (a model
    whose rows each come from one row of the input ``column`` names: rebuilt from that
    input's changed rows alone) or "all" (rebuilt whole, but only rows that differ
    replaced). ``unique`` names one row (key and all);
    ``reads`` the rows of each input that can reach the range (an SQL condition with
    ``{since}`` and ``{keys}``; inputs not named are read whole); ``moves`` the days a
    changed row moves downstream; ``snapshots`` the loaded inputs whose every partition
    restates the whole table (a change is a row the newest built partition did not have);
    ``stores`` the input whose rows a keyed model keeps (one per ``unique`` key, with the
    input's columns): its stored rows stand for the input's built partitions, and a changed
    input row also reaches the key its stored row had; ``probe`` (column, expression), with
    ``stores``: a stored column that equals the expression over the input row it came from
    (a hash of the unique key), read first when looking for a changed row's stored row;
    ``lookups`` (key column, hash column): stored columns equal to ``hash(<key column>)``,
    read first when a keyed read looks for the rows of some keys (``keyed_rows``).
    ``every``: inputs of a keyed model whose changed rows name none of its keys (they lack
    its key columns) and may reach any of its rows: the model is rebuilt whole when one of
    them changed, for its other inputs' keys otherwise. ``reaches`` (all, key and sums ranges):
    per input, the condition its changed rows (``_old`` marking those that went) meet when
    they can change the model's rows (an input not named: any changed row does); an all
    range is rebuilt only when one does, a key range for the keys those rows name.
    "sums": a model whose rows are the sums of the CTE ``summed`` over its inputs' rows
    of each key ``column`` (a subscription's), each row stored with those sums under the
    CTE's names; rebuilt by adding the changed keys' sums over their inputs' rows as they
    are now and taking away those over their rows as they were (``rebuild_sums``); a group
    is kept while its sum ``count`` is not 0. ``horizon`` (sums ranges): per input, the
    condition its rows meet when a new newest day moves their sums (``{built}``: the
    stored build's horizon, ``{horizon}`` the new one), whose keys are rebuilt too.
    """

    grain: str
    column: str | None = None
    resolution: str | None = None
    unique: tuple[str, ...] = ()
    reads: tuple[tuple[str, str], ...] = ()
    moves: tuple[Moves, ...] = ()
    snapshots: tuple[str, ...] = ()
    stores: str | None = None
    probe: tuple[str, str] | None = None
    lookups: tuple[tuple[str, str], ...] = ()
    every: tuple[str, ...] = ()
    reaches: tuple[tuple[str, str], ...] = ()
    since: tuple[tuple[str, str], ...] = ()
    settled: str | None = None
    summed: str | None = None
    count: str | None = None
    horizon: tuple[tuple[str, str], ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """The columns of a keyed range (``column``, split on commas)."""
        return tuple(c.strip() for c in str(self.column).split(","))


@dataclass(frozen=True)
class Model:
    table: str  # schema.table
    sql: str
    path: str
    reads: frozenset[str]
    range: Range | None = field(default=None)
    # columns stored without compression (``-- @uncompressed <column>, ...``), where the
    # warehouse compresses by column (``Warehouse.materialize``)
    uncompressed: tuple[str, ...] = ()


def read_model(path: Path, schema: str) -> Model:
    sql = path.read_text(encoding="utf-8")
    text = sql.strip().rstrip(";")
    return Model(
        f"{schema}.{path.stem}",
        text,
        str(path),
        tables_read(text),
        declared_range(sql, str(path)),
        uncompressed_columns(sql),
    )


def uncompressed_columns(sql: str) -> tuple[str, ...]:
    """The columns of the model's ``-- @uncompressed <column>, ...`` lines: those the daily
    build's keyed reads fetch from a few rows scattered over the whole table (every block
    of a fetched column is then decoded: at 1M subscriptions, 6.6M billing events, a user
    or subscription id column's fetch cost 0.13 CPU s compressed and 0.06 uncompressed,
    and writing the two 1.2 CPU s instead of 3.6-3.9). Text ids, nearly one value a row,
    gain little from a dictionary."""
    listed = declarations(sql).get("uncompressed", [])
    return tuple(c.strip() for _, text in listed for c in text.split(","))


def declarations(sql: str) -> dict[str, list[tuple[int, str]]]:
    """A model's ``-- @<keyword> <text>`` lines by keyword: (line number, text) each."""
    found: dict[str, list[tuple[int, str]]] = {}
    for number, line in enumerate(sql.splitlines(), start=1):
        matched = DECLARATION.match(line.strip())
        if matched:
            found.setdefault(matched.group(1), []).append((number, matched.group(2)))
    return found


def declared_range(sql: str, path: str = "<model>") -> Range | None:
    """The ``Range`` a model's ``-- @...`` comment lines declare (None: none declared)::

    -- @range day|week|month <column>   /  resolution <column> <resolution column>
    -- @range key <column>, ...   /  each <schema.table>  /  all
    -- @unique <column>, ...
    -- @reads <schema.table> WHERE <condition with {since} or {keys}>
    -- @moves <day expression>: <column>, ... | *
    -- @snapshot <schema.table>
    -- @stores <schema.table>
    -- @probe <column> = <expression over the stored input's row>
    -- @lookup <column> = hash(<key column>)
    -- @every <schema.table>   (with key: a change of that input reaches every key)
    -- @reaches <schema.table> WHERE <condition over its changed rows>   (with all or key)
    -- @since <schema.table>: <day expression over its changed rows>   (with key)
    -- @settled <condition over the model's rows, with {since}>   (with key and @since)
    -- @range sums <key column> <CTE> <count column>
    -- @horizon <schema.table> WHERE <condition with {built} and {horizon}>   (with sums)

    (``-- @uncompressed <column>, ...`` is not about the range: ``uncompressed_columns``.)
    """
    found = {k: v for k, v in declarations(sql).items() if k not in STORAGE_KEYWORDS}
    if not found:
        return None
    unknown = set(found) - KEYWORDS
    if unknown or len(found.get("range", ())) != 1:
        wrong = [found[w] for w in unknown] or list(found.values())
        first = min(n for entries in wrong for n, _ in entries)
        what = f"unknown @{sorted(unknown)[0]}" if unknown else "exactly one @range needed"
        raise ConfigError(f"{path}, line {first}: {what} in the range declaration")
    range_line, text = found["range"][0]
    words = text.split()
    if words and words[0] == "key" and len(words) > 2:  # key a, b: one column list
        words = ["key", ", ".join(c.strip() for c in " ".join(words[1:]).split(","))]
    if not words or words[0] not in GRAINS or len(words) != _arity(words[0]):
        raise ConfigError(
            f"{path}, line {range_line}: @range {text!r}: expected day|week|month <column>, "
            "resolution <column> <resolution column>, key <column>, ..., each "
            "<schema.table>, all or sums <key column> <CTE> <count column>"
        )
    reads = _conditions("reads", found.get("reads", []), path)
    reaches = _conditions("reaches", found.get("reaches", []), path)
    if reaches and words[0] not in ("all", "key", "sums"):
        raise ConfigError(
            f"{path}, line {found['reaches'][0][0]}: @reaches needs @range all, key or sums"
        )
    horizon = _conditions("horizon", found.get("horizon", []), path)
    if horizon and words[0] != "sums":
        raise ConfigError(f"{path}, line {found['horizon'][0][0]}: @horizon needs @range sums")
    moves = []
    for number, text in found.get("moves", []):
        day, colon, columns = text.rpartition(":")
        if not colon or not day.strip():
            raise ConfigError(f"{path}, line {number}: @moves {text!r}: <day>: <columns>")
        moves.append(Moves(day.strip(), tuple(c.strip() for c in columns.split(","))))
    unique = tuple(c.strip() for _, t in found.get("unique", []) for c in t.split(","))
    if words[0] in ("key", "each") and not unique:
        raise ConfigError(
            f"{path}, line {range_line}: @range {words[0]} needs @unique (one row's key)"
        )
    stores = found.get("stores", [])
    if stores and (words[0] != "key" or len(stores) > 1 or "." not in stores[0][1]):
        raise ConfigError(
            f"{path}, line {stores[0][0]}: @stores {stores[0][1]!r}: one <schema.table>, "
            "with @range key"
        )
    probe = _probe(found.get("probe", []), bool(stores), path)
    for number, text in found.get("every", []):
        if words[0] != "key" or "." not in text or len(text.split()) != 1:
            raise ConfigError(
                f"{path}, line {number}: @every {text!r}: one <schema.table>, with @range key"
            )
    since, settled = _settled(found, words[0], bool(stores), path)
    return Range(
        grain=words[0],
        column=words[1] if len(words) > 1 else None,
        resolution=words[2] if words[0] == "resolution" else None,
        unique=unique,
        reads=reads,
        moves=tuple(moves),
        snapshots=tuple(t for _, t in found.get("snapshot", [])),
        stores=stores[0][1] if stores else None,
        probe=probe,
        lookups=tuple(_lookup(number, text, path) for number, text in found.get("lookup", [])),
        every=tuple(t for _, t in found.get("every", [])),
        reaches=reaches,
        since=since,
        settled=settled,
        summed=words[2] if words[0] == "sums" else None,
        count=words[3] if words[0] == "sums" else None,
        horizon=horizon,
    )


def _settled(
    found: dict[str, list[tuple[int, str]]], grain: str, stores: bool, path: str
) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """The ``@since`` (table, day expression) pairs and the ``@settled`` condition: both
    or neither, with ``@range key`` and without ``@stores``."""
    since = []
    for number, text in found.get("since", []):
        table, colon, day = text.partition(":")
        if not colon or "." not in table or len(table.split()) != 1 or not day.strip():
            raise ConfigError(f"{path}, line {number}: @since {text!r}: <schema.table>: <day>")
        since.append((table.strip(), day.strip()))
    settled = found.get("settled", [])
    lines = found.get("since", []) + settled
    if lines and (
        grain != "key" or stores or not since or len(settled) != 1 or "{since}" not in settled[0][1]
    ):
        raise ConfigError(
            f"{path}, line {min(n for n, _ in lines)}: @since and @settled go together "
            "(one @settled condition with {since}), with @range key and without @stores"
        )
    return tuple(since), settled[0][1] if settled else None


def _conditions(kind: str, lines: list[tuple[int, str]], path: str) -> tuple[tuple[str, str], ...]:
    """The (table, condition) pairs of ``@reads`` or ``@reaches`` lines."""
    found = []
    for number, text in lines:
        table, where, condition = text.partition(" WHERE ")
        if not where or "." not in table:
            raise ConfigError(f"{path}, line {number}: @{kind} {text!r}: <schema.table> WHERE ...")
        found.append((table.strip(), condition.strip()))
    return tuple(found)


def _probe(lines: list[tuple[int, str]], stores: bool, path: str) -> tuple[str, str] | None:
    """The ``@probe <column> = <expression>`` line (at most one, with ``@stores``)."""
    if not lines:
        return None
    number, text = lines[0]
    column, equals, expression = text.partition("=")
    if len(lines) > 1 or not stores or not equals or not column.strip().isidentifier():
        raise ConfigError(
            f"{path}, line {number}: @probe {text!r}: one <column> = <expression>, with @stores"
        )
    return column.strip(), expression.strip()


LOOKUP = re.compile(r"^(\w+)\s*=\s*hash\((\w+)\)$")


def _lookup(number: int, text: str, path: str) -> tuple[str, str]:
    """(key column, hash column) of an ``@lookup <column> = hash(<key column>)`` line."""
    matched = LOOKUP.match(text)
    if not matched:
        raise ConfigError(f"{path}, line {number}: @lookup {text!r}: <column> = hash(<column>)")
    return matched.group(2), matched.group(1)


def _arity(grain: str) -> int:
    return {"resolution": 3, "all": 1, "sums": 4}.get(grain, 2)


@lru_cache(maxsize=256)
def _parsed(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read="duckdb")


@lru_cache(maxsize=256)
def tables_read(sql: str) -> frozenset[str]:
    """Schema-qualified tables a SELECT reads (its own CTE names excluded)."""
    tree = _parsed(sql)  # the parse the daily build's narrowing reuses
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return frozenset(
        f"{table.db}.{table.name}"
        for table in tree.find_all(exp.Table)
        if table.db and table.name not in ctes
    )


def discover_models(root: Path | None = None) -> list[Model]:
    """Every model file under the models package (or ``root``), unordered."""
    base = Path(str(resources.files(MODELS_PACKAGE))) if root is None else root
    return [
        read_model(path, path.parent.name)
        for path in sorted(base.glob("*/*.sql"))
        if not path.name.startswith("_")
    ]


def ordered(models: list[Model]) -> list[Model]:
    """Models so that each comes after the models it reads."""
    by_table = {model.table: model for model in models}
    graph = {m.table: {t for t in m.reads if t in by_table} for m in models}
    return [by_table[table] for table in graphlib.TopologicalSorter(graph).static_order()]


def build(
    context: Context,
    models: list[Model] | None = None,
    run_id: str | None = None,
    fingerprinted: Mapping[str, Fingerprint] | None = None,
    reasons: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Run every model; returns table → "ok" / "skipped: ..." . Each table is stored with
    its model's fingerprint (``fingerprints.py``; ``fingerprinted``: already computed over
    every model of the build). ``reasons``: model → why a daily build rebuilds it fully,
    said in its outcome and its ledger step's note."""
    # fingerprints.py reads this module's models: imported here, not at the top
    from tally.pipeline import fingerprints

    run_id = run_id or new_run_id()
    ledger = Ledger(context.warehouse)
    outcome: dict[str, str] = {}
    chosen = ordered(models if models is not None else discover_models())
    with Held(context.warehouse) as held:
        found = fingerprinted or fingerprints.fingerprints(
            chosen,
            context.settings,
            fingerprints.stored(context.warehouse),
            context.warehouse.capabilities.hash_function,
        )
        # tables written from settings or optional sources rather than SQL (country time
        # zones, plan names, exchange rates) come first
        write_countries(context.warehouse, context.settings)
        write_plans(context.warehouse)
        write_rates(context.warehouse, context.settings)
        for model in chosen:
            held.between_models()
            outcome[model.table] = _build_one(context, ledger, model, run_id, found, reasons)
    return outcome


def _build_one(
    context: Context,
    ledger: Ledger,
    model: Model,
    run_id: str,
    found: Mapping[str, Fingerprint],
    reasons: Mapping[str, str] | None,
) -> str:
    """Build one model in its own ledger step; its outcome ("ok" / "skipped: ...")."""
    from tally.pipeline import fingerprints

    with context.warehouse.session(), ledger.step(run_id, "build", dataset=model.table) as step:
        missing = sorted(t for t in model.reads if not context.warehouse.table_exists(t))
        if missing:
            step.status, step.error = "skipped", f"inputs not loaded yet: {', '.join(missing)}"
            return f"skipped: {step.error}"
        # no fingerprint while the table is rewritten: a build stopped half way leaves
        # none, and the next daily build rebuilds the model fully
        fingerprints.forget(context.warehouse, model.table)
        context.warehouse.materialize(model.table, model.sql, model.uncompressed)
        fingerprints.record(context.warehouse, model.table, found[model.table], run_id)
        count = context.warehouse.rows(f"SELECT count(*) FROM {model.table}")[0][0]
        step.rows_out = count
        why = (reasons or {}).get(model.table)
        step.note = f"rebuilt fully: {why}" if why else None
        return f"ok, {step.note}" if why else "ok"


class Held:
    """A full build's hold on a warehouse one process holds whole (a DuckDB file,
    ``single_writer_process``): one session kept open across models, where each model
    outside it opened and closed the file (~35 ms of CPU a pair at 200,000 subscriptions,
    busy; 24 pairs in the analytics build). Let go between two models once held
    ``HOLD_SECONDS``, so another process waiting for the file waits about that long plus
    one model at most, as it waited one model before. Each model keeps its own statements
    and ledger step (a failed model loses no other model's rows). Elsewhere nothing is
    held: a PostgreSQL session is a pooled connection, analyzed as it goes back to the
    pool (``ANALYZE`` of each model's table before the next model reads it)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.holds = warehouse.capabilities.single_writer_process
        self._session: ExitStack | None = None
        self._since = 0.0

    def __enter__(self) -> Held:
        self.between_models()
        return self

    def __exit__(self, *exc: object) -> None:
        self.let_go()

    def between_models(self) -> None:
        """Keep the session, or (held long enough, or none yet) open a fresh one."""
        if not self.holds:
            return
        if self._session is not None and time.monotonic() - self._since < HOLD_SECONDS:
            return
        self.let_go()
        session = ExitStack()
        session.enter_context(self.warehouse.session())
        self._session, self._since = session, time.monotonic()

    def let_go(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            session.close()


# -- rebuilding a declared range (the daily build's one step per model) ------------------


def narrowed(sql: str, inputs: Mapping[str, str]) -> str:
    """``sql`` reading, for each table ``inputs`` names, the rows of the SELECT given with
    it instead (an input narrowed to the rows that can reach a range).

    Done on the parsed SQL: each schema-qualified reference to the table (a CTE of the
    same name is never qualified) becomes a subquery under the reference's alias (or the
    table's name). The parsed and rewritten model is kept (``_narrowing``) with a stand-in
    in each subquery, which the SELECTs given fill: a model is rewritten once a process,
    not once a build (a rewrite of the periods model costs about 0.05 s)."""
    if not inputs:
        return sql
    tables = tuple(sorted(inputs))
    text = _narrowing(sql, tables)
    for number, table in enumerate(tables):
        text = text.replace(_stand_in(number), f"({inputs[table]})")
    return text


def _stand_in(number: int) -> str:
    return pipeline_fragment("narrowed_stand_in", number=str(number))


@lru_cache(maxsize=128)
def _narrowing(sql: str, tables: tuple[str, ...]) -> str:
    """``sql`` with each reference to one of ``tables`` a subquery of its stand-in.

    The parser finds the references; each is then replaced in the text itself, at the
    characters the parser read it from (its identifiers' positions), so the rest of the
    model's text is kept as it is. Copying the parsed tree and writing it back as SQL cost
    about 0.1 s of CPU in a daily build, whose process rewrites each model once."""
    spans = []
    for table in _parsed(sql).find_all(exp.Table):
        name = f"{table.db}.{table.name}"
        if not table.db or name not in tables:  # a CTE is never schema-qualified
            continue
        first, last = table.args["db"].meta.get("start"), table.this.meta.get("end")
        if first is None or last is None or table.args.get("catalog"):
            return _narrowing_written(sql, tables)
        stand_in = _stand_in(tables.index(name))
        # an alias written after the name stays where it is
        spans.append((first, last + 1, stand_in if table.alias else f"{stand_in} AS {table.name}"))
    text = sql
    for first, end, replacement in sorted(spans, reverse=True):
        text = text[:first] + replacement + text[end:]
    return text + "\n"  # a comment on its last line ends there, not in a caller's SQL


def _narrowing_written(sql: str, tables: tuple[str, ...]) -> str:
    """``_narrowing`` by rewriting the parsed tree, for a reference whose place in the text
    the parser did not record."""
    tree = _parsed(sql).copy()
    for table in list(tree.find_all(exp.Table)):
        name = f"{table.db}.{table.name}"
        if not table.db or name not in tables:
            continue
        stand_in = exp.select("*").from_(exp.to_table(f"__narrowed_{tables.index(name)}__"))
        alias = exp.TableAlias(this=exp.to_identifier(table.alias or table.name))
        table.replace(exp.Subquery(this=stand_in, alias=alias))
    return tree.sql(dialect="duckdb")


def period_start(day: dt.date, grain: str) -> dt.date:
    """The first day of ``day``'s week (ISO, Monday) or month; the day itself for days."""
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def range_condition(declared: Range, since: dt.date) -> str:
    """The rows of a date-ranged model a change from ``since`` on reaches."""
    if declared.grain == "resolution":
        return " OR ".join(
            f"({declared.resolution} = '{name}' "
            f"AND {declared.column} >= DATE '{period_start(since, grain)}')"
            for name, grain in RESOLUTIONS.items()
        )
    return f"{declared.column} >= DATE '{period_start(since, declared.grain)}'"


def input_rows(
    warehouse: Warehouse,
    declared: Range,
    since: dt.date | None = None,
    keys: str | None = None,
    skipped: set[str] | None = None,
) -> dict[str, str]:
    """Each declared input as the SELECT of the rows that can reach the range from
    ``since`` on (or of the keys in the temporary table ``keys``, one column named as the
    range's). Where the warehouse has row ids (DuckDB), a keyed read goes in two steps:
    the row ids from the key column alone, then those rows (a few keys' rows sit in every
    row group, and a plain semi-join decompresses every column of every row). ``skipped``:
    inputs read otherwise (left out)."""
    found = {}
    for table, condition in declared.reads:
        if skipped and table in skipped:
            continue
        where = condition.replace("{since}", f"DATE '{since}'" if since else "NULL")
        keys_sql = pipeline_fragment("declared_keys", column=f"{declared.column}", keys=f"{keys}")
        where = where.replace("{keys}", keys_sql)
        if keys is not None and "{keys}" in condition:
            found[table] = keyed_rows(warehouse, table, where)
        else:
            found[table] = f"SELECT * FROM {table} WHERE {where}"
    return found


def rebuild_days(warehouse: Warehouse, model: Model, since: dt.date) -> None:
    """Replace the rows of a date-ranged model from ``since`` on with its own SQL's, its
    inputs narrowed to the rows that can reach them. An input read more than once is read
    narrowed each time: a read from a day on skips the earlier row groups by their min/max,
    cheaper than keeping its rows (363,000 open spans at 1M subscriptions: 0.1 s of CPU to
    keep, 0.01 to read)."""
    assert model.range is not None
    where = range_condition(model.range, since)
    sql = narrowed(model.sql, input_rows(warehouse, model.range, since=since))
    with warehouse.transaction():
        warehouse.execute(f"DELETE FROM {model.table} WHERE {where}")
        warehouse.execute(f"INSERT INTO {model.table} SELECT * FROM ({sql}) AS fresh WHERE {where}")


def _narrowed_model(
    warehouse: Warehouse, model: Model, inputs: Mapping[str, str], kept: Iterable[str] = ()
) -> tuple[str, list[str]]:
    """The model's SQL reading its narrowed inputs, and the temporary tables it reads them
    from; an input it reads more than once is
    narrowed once, into a temporary table (``input_<n>``), not once for each reading (a
    read by keys visits every row group). So is an input read by keys through its row ids
    (DuckDB): inside the model, with the model's own filters on the same table, the planner
    may join the row ids against a scan of every column of every row (subscription_mrr's
    transactions at 1M subscriptions: 2.70 -> 1.86 s of CPU kept first). ``kept``: inputs
    read from what a daily build keeps of them (``shared_reads.py``), a small temporary
    table, not by row ids. A ``@stores`` input is read as it is, however often: its rows
    are two temporary tables already (``stored_and_new_rows``; a copy of them cost the
    latest billing events ~0.012 s of the build's thread at 1M subscriptions)."""
    assert model.range is not None
    read = _references(model.sql)
    by_row_ids = (
        {
            table
            for table, condition in model.range.reads
            if warehouse.capabilities.row_ids and "{keys}" in condition
        }
        - {model.range.stores}
        - set(kept)
    )
    swapped = dict(inputs)
    made = []
    for number, (table, select) in enumerate(inputs.items()):
        if (read.count(table) > 1 and table != model.range.stores) or table in by_row_ids:
            named = named_columns(model.sql, table) if table in by_row_ids else None
            if named is not None:
                # fetched by row ids, a row's every column is decompressed: only those the
                # model names (the periods by user at 200,000 subscriptions: 0.18 -> 0.15 s),
                # and those its condition names (``keyed_rows`` may test it on the rows read)
                named += _condition_columns(dict(model.range.reads)[table])
                listed = ", ".join(f"'{name}'" for name in sorted(set(named)))
                picked = pipeline_fragment("named_columns", names=listed)
                select = select.replace("SELECT *", f"SELECT {picked}", 1)
            temporary(warehouse, f"input_{number}", select)
            swapped[table] = f"SELECT * FROM input_{number}"
            made.append(f"input_{number}")
    return narrowed(model.sql, swapped), made


@lru_cache(maxsize=64)
def _condition_columns(condition: str) -> tuple[str, ...]:
    """The names a declared input condition writes."""
    text = condition
    for placeholder in ("{keys}", "{since}", "{built}"):
        text = text.replace(placeholder, "NULL")
    written = sqlglot.parse_one(text, read="duckdb").find_all(exp.Identifier)
    return tuple(sorted({identifier.name for identifier in written}))


@dataclass(frozen=True)
class _Nodes:
    """What ``named_columns`` looks for in a SQL's parse, gathered in one walk of it."""

    tables: tuple[exp.Table, ...]  # every table reference
    starred: frozenset[str]  # the aliases a ``alias.*`` is written with
    names: frozenset[str]  # every identifier's name
    joined_by_name: bool  # a NATURAL (or ASOF) join


@lru_cache(maxsize=64)
def _nodes(sql: str) -> _Nodes:
    """The ``_Nodes`` of ``sql``, kept per SQL: ``named_columns`` asks for each table a
    model reads, and walking the whole parse for each (once more per reference of the
    table, for its stars) cost the subscriber daily build ~10 ms of its thread at 1M
    subscriptions (the 112 model-input pairs of every model: 120 -> 16 ms)."""
    tables: list[exp.Table] = []
    starred: set[str] = set()
    names: set[str] = set()
    joined_by_name = False
    for node in _parsed(sql).walk():
        if isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
            starred.add(node.table)
        elif isinstance(node, exp.Identifier):
            names.add(node.name)
        elif isinstance(node, exp.Join) and node.args.get("method"):
            joined_by_name = True
    return _Nodes(tuple(tables), frozenset(starred), frozenset(names), joined_by_name)


@lru_cache(maxsize=64)
def named_columns(sql: str, table: str) -> tuple[str, ...] | None:
    """Every name ``sql`` writes that may be a column of ``table`` (more than the columns it
    reads of it, never fewer: each name written as a column, but for those written only
    with another table's or a CTE's alias; USING lists, aliases and the like), or ``None``
    when it may read every column of ``table``: a ``*`` over it (``alias.*``, or a bare
    ``*`` in a SELECT reading it directly) or a NATURAL join. It must never miss a column
    the model reads: a keyed fetch would then fail its statement (the input lacks it), and
    ``moved_days`` (through ``read_columns``) would not move the model for a change in it,
    which would give a daily build short of the full build's rows. A name left out is one
    written with another source's alias alone, or only as an alias, never bound to the
    table (sqlglot's scopes; every name is kept where they cannot be worked out)."""
    found_in = _nodes(sql)
    for found in found_in.tables:
        if f"{found.db}.{found.name}" != table:
            continue
        if found.alias_or_name in found_in.starred:
            return None
        select = found.find_ancestor(exp.Select)
        if select is None or any(isinstance(e, exp.Star) for e in select.expressions):
            return None
    if found_in.joined_by_name:
        return None  # NATURAL (or ASOF) joins match columns by name
    names = found_in.names
    written = _written_with(sql)
    # (a name written otherwise is under None: kept)
    return tuple(sorted(n for n in names if None in written.get(n, {None}) or table in written[n]))


@lru_cache(maxsize=64)
def _written_with(sql: str) -> dict[str, set[str | None]]:
    """Each name ``sql`` writes -> the sources whose alias it is written with as a column in
    its scope: a table's name, ``""`` for a CTE's or a subquery's, None when written
    unqualified, with an outer alias or elsewhere than as a column or an alias (USING
    lists); none for a name written only as an alias.
    A name written only with other tables' or CTEs' aliases is no column read of a table
    (``named_columns``): subscription_mrr names four columns of the periods that the
    transactions also have, fetched by row ids with the transactions for nothing (at 1M
    subscriptions, busy: the shared transactions' 14 columns -> 10, ~0.07 CPU s). Every
    name None where sqlglot cannot scope the SQL."""
    tree = _parsed(sql)
    written: dict[str, set[str | None]] = {}
    for identifier in tree.find_all(exp.Identifier):
        owners = written.setdefault(identifier.name, set())
        # an alias names what a SELECT gives (or a CTE, a table), reading nothing: a column
        # read under that name is written as one (subscription_mrr's user_prev_end, which
        # the periods also have: fetched for nothing, ~0.035 CPU s at 1M subscriptions)
        if not isinstance(identifier.parent, exp.Column | exp.Alias | exp.TableAlias):
            owners.add(None)
    try:
        scopes = traverse_scope(tree)
    except sqlglot.errors.SqlglotError:
        scopes = []
    scoped: set[int] = set()
    for scope in scopes:
        for column in scope.columns:
            scoped.add(id(column))
            source = scope.sources.get(column.table) if column.table else None
            if isinstance(source, exp.Table):
                owner: str | None = f"{source.db}.{source.name}"
            else:
                owner = None if source is None else ""
            written.setdefault(column.name, set()).add(owner)
    for column in tree.find_all(exp.Column):
        if id(column) not in scoped:
            written.setdefault(column.name, set()).add(None)
    return written


@lru_cache(maxsize=64)
def _references(sql: str) -> tuple[str, ...]:
    """Each schema-qualified table reference of ``sql``, once per reference."""
    return tuple(f"{t.db}.{t.name}" for t in _parsed(sql).find_all(exp.Table) if t.db)


def temporary(warehouse: Warehouse, table: str, select_sql: str) -> None:
    """(Re)create the session's temporary ``table`` from a SELECT (never written to the
    warehouse file: DuckDB would log it, then checkpoint it on closing). In one statement
    where the warehouse can: a daily build makes ~30 of them, and each statement costs
    ~1 ms of its serial time at 1M subscriptions (busy)."""
    if warehouse.capabilities.replaces_temporary_tables:
        warehouse.execute(f"CREATE OR REPLACE TEMPORARY TABLE {table} AS {select_sql}")
        return
    warehouse.execute(f"DROP TABLE IF EXISTS {table}")
    warehouse.execute(f"CREATE TEMPORARY TABLE {table} AS {select_sql}")


# inside ``columns_kept()``: table -> its columns, each asked of the warehouse once
_KEPT_COLUMNS: ContextVar[dict[str, list[str]] | None] = ContextVar("kept_columns", default=None)


@contextmanager
def columns_kept() -> Iterator[None]:
    """Inside the block, ``table_columns`` asks the warehouse for a table's columns once:
    for steps that change no table's columns (the daily build's ranged models ask ~20
    times for ~10 tables, a statement each)."""
    token = _KEPT_COLUMNS.set({})
    try:
        yield
    finally:
        _KEPT_COLUMNS.reset(token)


def table_columns(warehouse: Warehouse, table: str) -> list[str]:
    """``warehouse.columns(table)``, kept for the rest of a ``columns_kept()`` block."""
    kept = _KEPT_COLUMNS.get()
    if kept is None:
        return warehouse.columns(table)
    if table not in kept:
        kept[table] = warehouse.columns(table)
    return list(kept[table])


def done_with(warehouse: Warehouse, tables: Iterable[str]) -> None:
    """Drop the session's temporary ``tables``, made by ``temporary``, now that nothing
    reads them, where a table left behind would outlive the session (PostgreSQL's pooled
    connections keep theirs). Where ``temporary`` replaces a table in one statement
    (DuckDB), one left is replaced by the next of its name, and the session's connection
    takes them all when it closes: no statement is spent (a daily build made ~30 DROPs,
    ~1 ms of serial time each at 1M subscriptions, busy)."""
    if warehouse.capabilities.replaces_temporary_tables:
        return
    for table in tables:
        warehouse.execute(f"DROP TABLE IF EXISTS {table}")


# inside ``lookups_declared()``: table -> (key column, hash column) of its model's @lookup
_LOOKUPS: ContextVar[Mapping[str, tuple[tuple[str, str], ...]] | None] = ContextVar(
    "lookups", default=None
)


@contextmanager
def lookups_declared(models: Iterable[Model]) -> Iterator[None]:
    """Inside the block, ``keyed_rows`` finds the rows of some keys of the ``models``' tables
    by their ``@lookup`` columns: for steps that read tables these models made (the daily
    build's, after any rebuilt whole: a table an older definition made may lack them)."""
    declared = {m.table: m.range.lookups for m in models if m.range and m.range.lookups}
    token = _LOOKUPS.set(declared)
    try:
        yield
    finally:
        _LOOKUPS.reset(token)


def few_rows(warehouse: Warehouse, table: str, condition: str) -> str:
    """``condition`` over ``table``'s rows, for a condition that picks a few rows scattered
    over the table: where the warehouse has row ids (DuckDB), in two steps, the row ids
    from the condition's columns alone, then those rows (a few rows sit in every row group,
    and a plain semi-join decompresses every column of every row)."""
    if not warehouse.capabilities.row_ids:
        return condition
    return _by_row_ids(table, condition)


def _by_row_ids(table: str, condition: str) -> str:
    """The condition on ``table``'s row ids (``by_row_ids``): those ``condition`` picks,
    read one alternative at a time (``alternatives``)."""
    reads = (f"SELECT rowid FROM {table} WHERE {term}" for term in alternatives(condition))
    return pipeline_fragment("by_row_ids", row_ids=" UNION ALL ".join(reads))


@lru_cache(maxsize=256)
def alternatives(condition: str) -> tuple[str, ...]:
    """The terms OR-ed at the top of ``condition`` when each is an ``IN`` over a subquery
    (a key among keys: the shared reads' rows of either key column), else the condition
    alone. DuckDB runs each such term alone as a semi-join, and an OR of them as a mark join
    per term over every row, then the OR: at 1M subscriptions, busy, the transactions' row
    ids by subscription or by user 0.20 CPU s, the two reads' row ids 0.06-0.07."""
    tree = sqlglot.parse_one(condition, read="duckdb")
    if not isinstance(tree, exp.Or):
        return (condition,)
    terms = [term.unnest() for term in tree.flatten()]
    if not all(isinstance(t, exp.In) and t.args.get("query") is not None for t in terms):
        return (condition,)
    return tuple(term.sql(dialect="duckdb") for term in terms)


def keyed_rows(warehouse: Warehouse, table: str, condition: str, columns: str = "*") -> str:
    """The SELECT of ``columns`` of ``table``'s rows ``condition`` picks, a condition that
    picks a few rows scattered over the table (``few_rows``). Where the table's model
    declares an ``@lookup`` of a key column the condition looks up (``lookups_declared``)
    and the warehouse has row ids, the row ids come from that hash, one number per row
    instead of a text to decompress and compare (``hashed_condition``); the condition then
    picks among the rows read, kept first (MATERIALIZED: DuckDB would otherwise test it on
    every row of the table, not the few read), so a hash two keys share never picks a wrong
    row. ``columns`` must hold those the condition names."""
    lookups = (_LOOKUPS.get() or {}).get(table) if warehouse.capabilities.row_ids else None
    hashed = hashed_condition(condition, lookups) if lookups else None
    if hashed is None:
        return f"SELECT {columns} FROM {table} WHERE {few_rows(warehouse, table, condition)}"
    read = _by_row_ids(table, hashed)
    return pipeline_fragment(
        "looked_up_rows", columns=columns, table=table, read=read, condition=condition
    )


@lru_cache(maxsize=256)
def hashed_condition(condition: str, lookups: tuple[tuple[str, str], ...]) -> str | None:
    """``condition`` with each ``<key column> IN (SELECT <keys> FROM ...)`` written
    ``<hash column> IN (SELECT hash(<keys>) FROM ...)`` (in a tuple of columns, the key
    column's place alone: the others still let a scan skip row groups by their min/max),
    for ``lookups`` (key column, hash column): true for every row the condition picks and a
    few more. Only terms whose truth makes the whole condition true are written so (under
    AND and OR, not NOT); None when there is none."""
    tree = sqlglot.parse_one(condition, read="duckdb")
    hashes = dict(lookups)
    written = False
    for found in list(tree.find_all(exp.In)):
        query = found.args.get("query")
        select = query.this if isinstance(query, exp.Subquery) else query
        if not isinstance(select, exp.Select) or not _positive(found):
            continue
        keys = found.this.unnest()
        columns = keys.expressions if isinstance(keys, exp.Tuple) else [keys]
        if len(columns) != len(select.expressions):
            continue
        places = list(zip(columns, select.expressions, strict=True))
        looked_up = [_looked_up(column, given, hashes) for column, given in places]
        if looked_up == places:
            continue  # no key column with a lookup
        picked = select.copy()
        picked.set("expressions", [given.copy() for _, given in looked_up])
        listed = [column.copy() for column, _ in looked_up]
        this = listed[0] if len(listed) == 1 else exp.Tuple(expressions=listed)
        lookup = exp.In(this=this, query=exp.Subquery(this=picked))
        tree = lookup if found is tree else tree
        found.replace(lookup)
        written = True
    return tree.sql(dialect="duckdb") if written else None


def _looked_up(
    column: exp.Expr, given: exp.Expr, hashes: Mapping[str, str]
) -> tuple[exp.Expr, exp.Expr]:
    """(column, keys) of one place of an IN: the hash column and ``hash(<keys>)`` for a key
    column with a lookup, else the two as they were."""
    if isinstance(column, exp.Column) and not column.table and column.name in hashes:
        return exp.column(hashes[column.name]), exp.func("hash", given.copy())
    return column, given


def _positive(node: exp.Expr) -> bool:
    """Whether ``node``'s truth makes its whole condition true: only AND, OR and
    parentheses above it."""
    parent = node.parent
    while parent is not None:
        if not isinstance(parent, exp.And | exp.Or | exp.Paren):
            return False
        parent = parent.parent
    return True


def rebuild_keys(
    warehouse: Warehouse,
    model: Model,
    keys: str,
    delta: str,
    new_rows: str | None = None,
    kept: Mapping[str, str] | None = None,
    since: str | None = None,
) -> None:
    """Rebuild a key-ranged model for the keys in the temporary table ``keys`` (the
    range's columns) with its own SQL, its inputs narrowed to those keys; only rows that
    differ are replaced (``replace_changed``). A model that ``stores`` its input reads, in
    place of it, its stored rows of the keys and the input's new rows of the keys (the
    temporary table ``new_rows``, rows marked ``_old`` left out). Keys match by ``=``: a
    key column is one that is never NULL. ``kept``: input -> the SELECT of its declared
    rows for the keys from what the daily build keeps of it (``shared_reads.py``), read in
    place of the input. ``since``: the temporary table of the keys, each with ``_since``
    (``incremental._settled_since``), for a model that declares ``@settled``: only the rows
    of the keys its condition leaves are compared, stored and fresh."""
    assert model.range is not None
    column = model.range.column
    where = pipeline_fragment("keys_among", key=f"({column})", given=f"{column}", rows=keys)
    # (200,000 subscriptions, CPU s: the latest copies' 0.037 -> 0.022, subscription_mrr's
    # 0.087 -> 0.071)
    stored = keyed_rows(warehouse, model.table, where)
    row_ids = None
    if since is not None:
        stored = _unsettled_stored(warehouse, model, since)
        row_ids = ROW_ID if warehouse.capabilities.row_ids else None
    inputs = input_rows(warehouse, model.range, keys=keys, skipped=set(kept or ()))
    inputs.update(kept or {})
    if model.range.stores is not None:
        assert new_rows is not None
        temporary(warehouse, "stored_rows", stored)
        mine = set(table_columns(warehouse, model.table))
        stores = table_columns(warehouse, model.range.stores)
        listed = ", ".join(c for c in stores if c in mine)
        # every new row's key is among the keys (incremental.py names them)
        inputs[model.range.stores] = pipeline_fragment(
            "stored_and_new_rows", columns=listed, new_rows=new_rows
        )
        stored_sql = None
    else:
        stored_sql = stored
    fresh, made = _narrowed_model(warehouse, model, inputs, kept=kept or ())
    if since is not None:
        fresh = pipeline_sql("unsettled_rows", rows=fresh, **_settled_parts(model, since))
    replace_changed(warehouse, model, stored_sql, fresh, delta, row_ids=row_ids)
    done_with(warehouse, made + (["stored_rows"] if stored_sql is None else []))


def _settled_parts(model: Model, since: str) -> dict[str, str]:
    """The fragments of ``unsettled_rows``: the ``since`` table, the join of a row ``r`` to
    its key's row ``s`` there, and the model's ``@settled`` condition over them."""
    assert model.range is not None and model.range.settled is not None
    on = " AND ".join(f"r.{c} = s.{c}" for c in model.range.keys)
    settled = model.range.settled.replace("{since}", "s._since")
    return {"since": since, "on": on, "settled": settled}


def _unsettled_stored(warehouse: Warehouse, model: Model, since: str) -> str:
    """The SELECT of the stored rows of the keys in ``since`` that their ``@settled``
    condition leaves: where the warehouse has row ids, the row ids found from the key's and
    the condition's columns alone, then those rows (``few_rows``), each with its row id
    (``ROW_ID``): the rows that went are deleted by it (``replace_changed``), not matched by
    key over the whole table (subscription_mrr's ~11,000 among 6.2M at 1M subscriptions:
    0.13-0.18 -> 0.04 CPU s; benchmarks/daily_build_profile.py --analytics, 3 alternating
    pairs, load 6-8). Where that read's CPU goes there (``--operators``, load 2-5): ~80 %
    fetching the 16 columns of the day's ~13,600 rows, which sit in 51 of the 53 row groups
    (each column's every block decoded; no column above ~15 % of it), ~20 % finding their
    row ids. Stored in order of (next_start IS NULL, period_end) (a copy of the bench's
    warehouse rewritten so), the fetch reads 9 row groups, but the row ids cost ~5 times
    as much (user_id, no longer grouped by subscription, loses its small dictionaries): the
    statement's CPU did not move, and sorting the full build's 6.2M rows costs 1.5-2 CPU s.
    Reading less than the rows' every block needs what they hold kept apart (a summary of
    each subscription's latest MRR row, as subscription_last_periods is for the periods)."""
    parts = _settled_parts(model, since)
    if not warehouse.capabilities.row_ids:
        return pipeline_sql("unsettled_rows", rows=f"SELECT * FROM {model.table}", **parts)
    row_ids = pipeline_fragment("unsettled_row_ids", table=model.table, **parts)
    return f"SELECT *, rowid AS {ROW_ID} FROM {model.table} WHERE rowid IN ({row_ids})"


def rebuild_each(warehouse: Warehouse, model: Model, source_delta: str, delta: str) -> None:
    """Rebuild a model whose rows each come from one row of its input (``@range each``)
    from that input's changed rows alone (``source_delta``, as ``replace_changed`` leaves
    it): the rows the old versions gave went, those the new ones give came."""
    assert model.range is not None and model.range.column is not None
    source = model.range.column
    listed = ", ".join(table_columns(warehouse, source))
    stored = narrowed(model.sql, {source: f"SELECT {listed} FROM {source_delta} WHERE _old"})
    fresh = narrowed(model.sql, {source: f"SELECT {listed} FROM {source_delta} WHERE NOT _old"})
    replace_changed(warehouse, model, stored, fresh, delta)


# the temporary table of a sums model's merged sums, which its CTE reads in the rebuild
MERGED_SUMS = "sums_merged"


def rebuild_sums(
    warehouse: Warehouse,
    model: Model,
    keys: str,
    deltas: Mapping[str, str],
    built: dt.date,
    delta: str,
    uniques: Mapping[str, tuple[str, ...]] | None = None,
) -> None:
    """Rebuild a model whose rows are the sums of its CTE (``@range sums``) for the keys in
    the temporary table ``keys``: the CTE over those keys' rows of its inputs as they are
    now is added to the stored sums, the CTE over their rows as they were is taken away
    (``deltas``: input -> its changed rows, ``_old`` true for those that went, as
    ``replace_changed`` leaves them; every input has one), and the model's own SQL reads
    the merged sums in place of its CTE; only rows that differ are replaced. A key's sums
    depend on its rows alone, so the keys not among ``keys`` (none of whose rows changed)
    give the same sums either way: narrowing an input (``@reads``, with ``{keys}`` and
    ``{built}``, the stored build's horizon) only spares reading them. Exact for integer
    and decimal sums (never floats: the CTE casts). ``uniques``: input -> the columns
    naming one of its rows (its model's ``@unique``), by which the rows that came are told
    from those read now (else by every column read, an ``EXCEPT ALL``). An input's rows
    are read once, with only the columns the model names (``named_columns``), by a plain
    semi-join: with so few columns DuckDB fetches them for the rows its filters keep alone
    (at 1M subscriptions, ~25,000 subscriptions' current MRR periods: 0.11 CPU s, against
    0.18-0.23 in two steps by row ids, ``keyed_rows``)."""
    declared = model.range
    assert declared is not None and declared.summed is not None and declared.count is not None
    contribution, merged, groups, sums = summed_parts(model.sql, declared.summed)
    listed = pipeline_fragment("declared_keys", column=str(declared.column), keys=keys)
    conditions = {
        table: condition.replace("{built}", f"DATE '{built}'").replace("{keys}", listed)
        for table, condition in declared.reads
    }
    now: dict[str, str] = {}
    before: dict[str, str] = {}
    made = []
    for number, table in enumerate(sorted(model.reads)):
        condition = conditions.get(table, "true")
        unique = (uniques or {}).get(table, ())
        columns = _summed_columns(warehouse, model, table, condition, unique)
        rows = f"sums_input_{number}"  # read once, for both versions
        temporary(warehouse, rows, f"SELECT {columns} FROM {table} WHERE {condition}")
        made.append(rows)
        now[table] = f"SELECT {columns} FROM {rows}"
        parts = {"columns": columns, "rows": rows, "delta": deltas[table], "condition": condition}
        if unique:
            # (an EXCEPT ALL numbers the rows of both sides in a window: at 1M subscriptions
            # attribution_channel's three inputs' cost ~0.07 CPU s more than a key's lookup)
            key = ", ".join(unique)
            before[table] = pipeline_sql("rows_before_by_key", key=f"({key})", given=key, **parts)
        else:
            before[table] = pipeline_sql("rows_before", **parts)
    temporary(warehouse, "sums_now", narrowed(contribution, now))
    temporary(warehouse, "sums_before", narrowed(contribution, before))
    temporary(
        warehouse,
        MERGED_SUMS,
        pipeline_sql(
            "merged_sums",
            table=model.table,
            groups=", ".join(groups),
            sums=", ".join(sums),
            summed=", ".join(f"sum({column}) AS {column}" for column in sums),
            negated=", ".join(f"-{column}" for column in sums),
            count=declared.count,
        ),
    )
    replace_changed(warehouse, model, f"SELECT * FROM {model.table}", merged, delta)
    done_with(warehouse, [*made, "sums_now", "sums_before", MERGED_SUMS])


def _summed_columns(
    warehouse: Warehouse, model: Model, table: str, condition: str, unique: tuple[str, ...]
) -> str:
    """The columns of ``table`` a sums model reads (those it names, its condition on the
    table names and the table's ``unique`` ones; every one where it may read all): each
    column kept is decompressed for the rows read (at 1M subscriptions the MRR periods of
    the day's ~25,000 subscriptions, 16 columns by row ids: ~0.39 CPU s; 4: ~0.09-0.17)."""
    columns = table_columns(warehouse, table)
    named = named_columns(model.sql, table)
    if named is None:
        return ", ".join(columns)
    wanted = set(named) | set(_condition_columns(condition)) | set(unique)
    return ", ".join(c for c in columns if c in wanted)


@lru_cache(maxsize=16)
def summed_parts(sql: str, cte: str) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """For a sums model (``rebuild_sums``): the SELECT of its CTE ``cte``'s rows, its SQL
    with that CTE reading the temporary table ``MERGED_SUMS`` instead, and the CTE's group
    columns and sums (its outputs without and with an aggregate). Rewritten on the parsed
    tree (once a process)."""
    tree = _parsed(sql)
    found = [c for c in tree.find_all(exp.CTE) if c.alias_or_name == cte]
    with_ = tree.args.get("with_")
    if len(found) != 1 or with_ is None or not isinstance(found[0].this, exp.Select):
        raise ConfigError(f"@range sums: no one CTE {cte!r} (a SELECT) in the model's WITH")
    outputs = found[0].this.selects
    groups = tuple(o.alias_or_name for o in outputs if o.find(exp.AggFunc) is None)
    sums = tuple(o.alias_or_name for o in outputs if o.find(exp.AggFunc) is not None)
    contribution = exp.select("*").from_(cte)
    contribution.set("with_", with_.copy())
    merged = tree.copy()
    body = next(c for c in merged.find_all(exp.CTE) if c.alias_or_name == cte)
    body.set("this", exp.select(*groups, *sums).from_(MERGED_SUMS))
    return contribution.sql(dialect="duckdb"), merged.sql(dialect="duckdb"), groups, sums


def replace_changed(
    warehouse: Warehouse,
    model: Model,
    stored_sql: str | None,
    fresh_sql: str | None,
    delta: str,
    stored: str = "stored_rows",
    fresh: str = "fresh_rows",
    row_ids: str | None = None,
) -> None:
    """Make the rows ``stored_sql`` picks from the model's table the rows of ``fresh_sql``,
    replacing only those that differ, by the declared unique key (deleting and inserting
    rows that did not change made DuckDB rewrite their row groups on its checkpoint).
    Either SQL None: the temporary table ``stored`` (``fresh``) holds those rows already,
    and stays (a copy of a temporary table costs as much as a small rebuild step). Leaves the
    temporary table ``delta``: every row that went (``_old`` true) or came (``_old``
    false). ``row_ids``: the column of ``stored`` holding each row's row id in the model's
    table (where the warehouse has row ids), so that the rows that went are deleted by it
    instead of matched by key over the whole table (at 1M subscriptions, the day's 12,000
    latest periods among 1M: ~0.045 -> ~0.01 s of CPU, busy)."""
    assert model.range is not None
    made = [
        (table, sql) for table, sql in ((stored, stored_sql), (fresh, fresh_sql)) if sql is not None
    ]
    for table, sql in made:
        temporary(warehouse, table, sql)
    name = model.table
    columns = ", ".join(table_columns(warehouse, name))
    one_side = pipeline_sql("rows_on_one_side", columns=columns, stored=stored, fresh=fresh)
    temporary(warehouse, delta, one_side)
    unique = model.range.unique
    if not unique:  # one row or a few: replaced whole when anything differs
        if warehouse.rows(f"SELECT count(*) FROM {delta}")[0][0]:
            warehouse.execute(f"DELETE FROM {name}")
            warehouse.execute(f"INSERT INTO {name} SELECT {columns} FROM {fresh}")
    else:
        listed = ", ".join(unique)
        if row_ids is not None:
            matched = " AND ".join(f"s.{column} = went.{column}" for column in unique)
            went = pipeline_sql(
                "delete_went_by_row_ids",
                table=name,
                row_ids=row_ids,
                stored=stored,
                unique=listed,
                delta=delta,
                matched=matched,
            )
        else:
            matched = " AND ".join(f"{name}.{column} = went.{column}" for column in unique)
            went = pipeline_sql(
                "delete_went", table=name, unique=listed, delta=delta, matched=matched
            )
        warehouse.execute(went)
        warehouse.execute(f"INSERT INTO {name} SELECT {columns} FROM {delta} WHERE NOT _old")
    done_with(warehouse, [table for table, _ in made])


def moved_days(
    warehouse: Warehouse, model: Model, delta: str, readers: Mapping[str, frozenset[str]]
) -> dict[str, dt.date | None]:
    """The first day the rows in ``delta`` (``replace_changed``) move downstream, by the
    model's ``@moves`` (None: no day moved): for every reader, under ``model.table`` (a row
    that came or went moves every day its declarations give; a row that changed, the same
    unique key on both sides, the days of the declarations whose columns differ), and for
    each reader in ``readers`` (a model downstream -> the columns of ``model``'s table it
    may read) apart: a changed row moves it only by the declarations whose columns it
    reads, as a column it never reads cannot change its rows. On the 1M bench's last day,
    188 MRR periods whose only change was next_start (a renewal came after a gap) moved the
    MRR marts from ten days back; mrr_daily and cohort_retention never read next_start.
    One statement for all readers; each declared day is computed on each side
    (``_moves_<n>``), so the expressions are used as written, not parsed and requalified."""
    assert model.range is not None
    columns = table_columns(warehouse, model.table)
    moves = model.range.moves
    days = ", ".join(f"{m.day} AS _moves_{n}" for n, m in enumerate(moves))
    variants: dict[str, frozenset[str] | None] = {model.table: None, **readers}
    firsts = []
    for read in variants.values():
        changed = []
        for n, move in enumerate(moves):
            listed = columns if move.columns == ("*",) else move.columns
            differing = [c for c in listed if read is None or c in read]
            if differing:
                differs = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in differing)
                changed.append(f"CASE WHEN {differs} THEN least(o._moves_{n}, n._moves_{n}) END")
        firsts.append(
            pipeline_fragment(
                "moved_day",
                new=", ".join(f"n._moves_{n}" for n in range(len(moves))),
                old=", ".join(f"o._moves_{n}" for n in range(len(moves))),
                changed=", ".join(changed) or "CAST(NULL AS DATE)",
            )
        )
    on = " AND ".join(f"o.{c} = n.{c}" for c in model.range.unique) or "true"
    sql = pipeline_sql("first_moved_day", firsts=", ".join(firsts), days=days, delta=delta, on=on)
    found = warehouse.rows(sql)[0]
    return {
        reader: day.date() if isinstance(day, dt.datetime) else day
        for reader, day in zip(variants, found, strict=True)
    }


def read_columns(reader: Model, table: str) -> frozenset[str] | None:
    """The columns of ``table`` that ``reader`` may read (more, never fewer): the names
    its SQL writes and those of its ``@reads`` condition on ``table``; None when it may
    read them all (``named_columns``)."""
    named = named_columns(reader.sql, table)
    if named is None:
        return None
    conditions = dict(reader.range.reads) if reader.range else {}
    return frozenset(named) | frozenset(_condition_columns(conditions.get(table, "true")))
