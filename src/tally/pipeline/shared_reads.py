"""Inputs read by keys once per daily build, for every keyed model that reads them.

Where the warehouse has row ids (DuckDB), a keyed model's read of a large input by the day's
keys (``-- @reads <table> WHERE <column> IN {keys} ...``) costs a scan of the key column and
a fetch that visits every row group, whatever the number of keys: DuckDB 2.0.1 cannot skip
row groups for scattered keys (at 1M subscriptions, ``subscription_periods`` by user: ~0.7 s
of CPU for each model reading it). Two models reading one input by keys read it once
here, each by its own key column (``subscription_revenue`` reads the transactions by
subscription, ``subscription_mrr`` by user): the first read fetches the rows of its own keys
and of the keys the later readers' inputs already name (their changed rows so far), a row
kept when any of its key columns is among its column's keys, into a temporary table with
every column any reader names; each reader then filters that small table by its own
condition. A later reader whose keys were not all foreseen (an input that changed after the
first read) has the missing keys' rows fetched and added first (without the rows kept
already by another key column), so every reader sees every row of its keys once, as a read
of the input would give (the property tests, tests/marts/daily_property.py, compare the
daily build with the full one).

An input is kept only between its own rebuild and the end of the build: the readers come
after the model that writes it (dependency order), and ``forget`` drops what is kept of a
table as soon as it is rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp

from tally.pipeline.build import Model, keyed_rows, named_columns, temporary
from tally.pipeline.extension import FAST_PATHS
from tally.pipeline.statements import pipeline_fragment, pipeline_sql
from tally.warehouse import Warehouse

KEYS_STAND_IN = "__keys__"


@dataclass(frozen=True)
class _Kept:
    """What is kept of one input: ``rows`` (temporary table) the input's rows whose key is
    among those kept, ``keys``: key column -> the temporary table of its kept keys (a row
    is kept when any of its key columns is among that column's keys)."""

    rows: str
    keys: dict[str, str]


class SharedReads:
    """The inputs of one daily build read by keys by two models or more (``readers``), and
    what is kept of them so far."""

    def __init__(self, warehouse: Warehouse, ranged: list[Model]) -> None:
        self.warehouse = warehouse
        self.readers = sharing(ranged) if warehouse.capabilities.row_ids else {}
        self.kept: dict[str, _Kept] = {}

    def shared(self, model: Model) -> list[str]:
        """The inputs ``model`` reads through what is kept."""
        return [table for table, models in self.readers.items() if model in models]

    def read(self, model: Model, table: str, keys: str, deltas: Mapping[str, str]) -> str:
        """The SELECT of ``model``'s declared rows of ``table`` for the keys in the temporary
        table ``keys``, from what is kept (fetched first where it lacks some of the keys).
        ``deltas``: table -> the temporary table of its changed rows, for the tables whose
        change is known so far (the later readers' keys foreseen from them)."""
        assert model.range is not None
        column = _key(model)
        kept = self.kept.get(table)
        if kept is None:
            self._first(model, table, keys, deltas)
        else:
            self._complete(table, kept, column, keys)
        condition = dict(model.range.reads)[table]
        where = condition.replace("{keys}", _keys_subquery(column, keys))
        return f"SELECT * FROM {self.kept[table].rows} WHERE {where}"

    def forget(self, table: str) -> None:
        """``table`` was rewritten: what was kept of it is no longer its rows."""
        self.kept.pop(table, None)

    def _first(self, model: Model, table: str, keys: str, deltas: Mapping[str, str]) -> None:
        """Keep ``table``'s rows of ``model``'s keys and of the keys the later readers'
        inputs name so far (their changed rows), in one read."""
        column = _key(model)
        foreseen: dict[str, list[str]] = {column: [f"SELECT {column} FROM {keys}"]}
        readers = self.readers[table]
        for reader in readers[readers.index(model) + 1 :]:
            theirs = _key(reader)
            named = [deltas[t] for t in sorted(reader.reads) if t in deltas]
            foreseen.setdefault(theirs, []).extend(f"SELECT {theirs} FROM {d}" for d in named)
        number = len(self.kept)
        kept = _Kept(f"shared_rows_{number}", {})
        for n, (key, selects) in enumerate(sorted(foreseen.items())):
            if selects:  # (a reader none of whose inputs changed yet: its keys later)
                kept.keys[key] = f"shared_keys_{number}_{n}"
                temporary(self.warehouse, kept.keys[key], " UNION ".join(selects))
        among = " OR ".join(_among(key, listed) for key, listed in kept.keys.items())
        temporary(self.warehouse, kept.rows, self._fetch(table, among))
        self.kept[table] = kept

    def _complete(self, table: str, kept: _Kept, column: str, keys: str) -> None:
        """Fetch into ``kept`` the rows of the keys in ``keys`` (of ``column``) it lacks, if
        any, leaving out the rows it holds already by another key column."""
        if column in kept.keys:
            listed = kept.keys[column]
            missing = pipeline_sql("missing_keys", column=column, keys=keys, kept=listed)
            temporary(self.warehouse, "shared_missing", missing)
            if not self.warehouse.rows("SELECT count(*) FROM shared_missing")[0][0]:
                return
        else:
            listed = kept.keys[column] = f"{kept.rows}_{column}"
            temporary(self.warehouse, "shared_missing", f"SELECT {column} FROM {keys}")
            temporary(self.warehouse, listed, f"SELECT {column} FROM shared_missing WHERE false")
        # a row kept by another column's key is there already: not twice
        held = [f"coalesce({_among(c, t)}, false)" for c, t in kept.keys.items() if c != column]
        among = " AND ".join([_among(column, "shared_missing"), *(f"NOT {h}" for h in held)])
        self.warehouse.execute(f"INSERT INTO {kept.rows} {self._fetch(table, among)}")
        self.warehouse.execute(f"INSERT INTO {listed} SELECT {column} FROM shared_missing")

    def _fetch(self, table: str, condition: str) -> str:
        """The SELECT of ``table``'s rows ``condition`` picks (over its key columns), with
        the columns every reader names (all where one may read every column)."""
        names = _names(tuple(self.readers[table]), table)
        if names is None:
            return keyed_rows(self.warehouse, table, condition)
        listed = ", ".join(f"'{name}'" for name in names)
        picked = pipeline_fragment("named_columns", names=listed)
        return keyed_rows(self.warehouse, table, condition, picked)


def _key(model: Model) -> str:
    """The key column of a keyed model (one column: ``keyed_by``)."""
    assert model.range is not None and model.range.column is not None
    return model.range.column


def _among(column: str, keys: str) -> str:
    """A row's ``column`` among the keys of the temporary table ``keys``."""
    return pipeline_fragment("keys_among", key=column, given=column, rows=keys)


def sharing(ranged: list[Model]) -> dict[str, list[Model]]:
    """Input -> the ranged models (in build order, two or more) that read it by keys through
    a condition ``<their key column> IN {keys}`` (alone or AND-ed with others): rebuilt by
    ``build.rebuild_keys`` (not a fast path), not reading their own table or the input they
    store. Their key columns may differ (the transactions by subscription and by user)."""
    found: dict[str, list[Model]] = {}
    for model in ranged:
        declared = model.range
        if declared is None or declared.grain != "key" or model.table in FAST_PATHS:
            continue
        column = str(declared.column)
        for table, condition in declared.reads:
            if table in (model.table, declared.stores) or not keyed_by(condition, column):
                continue
            found.setdefault(table, []).append(model)
    return {table: models for table, models in found.items() if len(models) > 1}


@lru_cache(maxsize=128)
def keyed_by(condition: str, column: str) -> bool:
    """Whether the declared condition keeps only rows whose ``column`` is among the keys:
    ``<column> IN {keys}``, alone or as one of the terms AND-ed at its top (an OR around it
    would let other rows in)."""
    if "," in column:  # a key of several columns: not shared
        return False
    keys = _keys_subquery(column, KEYS_STAND_IN)
    text = condition.replace("{keys}", keys)
    try:
        tree = sqlglot.parse_one(text.replace("{since}", "NULL"), read="duckdb")
    except sqlglot.errors.ParseError:
        return False
    wanted = sqlglot.parse_one(f"{column} IN {keys}", read="duckdb")
    terms = tree.flatten() if isinstance(tree, exp.And) else [tree]
    return any(term == wanted for term in terms)


def _keys_subquery(column: str, keys: str) -> str:
    """What ``{keys}`` stands for in a declared condition: the keys of the table ``keys``."""
    return pipeline_fragment("declared_keys", column=column, keys=keys)


@lru_cache(maxsize=64)
def _names(readers: tuple[Model, ...], table: str) -> tuple[str, ...] | None:
    """Every name the readers' SQL and declared conditions write (``build.named_columns``),
    or None where one of them may read every column of ``table``."""
    names: set[str] = set()
    for reader in readers:
        assert reader.range is not None
        named = named_columns(reader.sql, table)
        if named is None:
            return None
        condition = dict(reader.range.reads)[table].replace("{keys}", "NULL")
        condition = condition.replace("{since}", "NULL")
        written = sqlglot.parse_one(condition, read="duckdb").find_all(exp.Identifier)
        names.update(named, (identifier.name for identifier in written))
    return tuple(sorted(names))
