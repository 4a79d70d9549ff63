"""Inputs read by keys once per daily build, for every model that reads them by the same key.

Where the warehouse has row ids (DuckDB), a keyed model's read of a large input by the day's
keys (``-- @reads <table> WHERE <column> IN {keys} ...``) costs a scan of the key column and
a fetch that visits every row group, whatever the number of keys: DuckDB 2.0.1 cannot skip
row groups for scattered keys (at 1M subscriptions, ``subscription_periods`` by user: ~0.7 s
of CPU for each model reading it). Two models reading one input by one key column read it
once here: the first read fetches the rows of its own keys and of the keys the later
readers' inputs already name (their changed rows so far) into a temporary table, with every
column any of them names; each reader then filters that small table by its own condition. A
later reader whose keys were not all foreseen (an input that changed after the first read)
has the missing keys' rows fetched and added first, so every reader sees every row of its
keys, as a read of the input would give (the property tests, tests/marts/daily_property.py,
compare the daily build with the full one).

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

from tally.pipeline.build import Model, few_rows, named_columns, temporary
from tally.pipeline.extension import FAST_PATHS
from tally.pipeline.statements import pipeline_fragment, pipeline_sql
from tally.warehouse import Warehouse

KEYS_STAND_IN = "__keys__"


@dataclass(frozen=True)
class _Kept:
    """What is kept of one input: ``rows`` (temporary table) the input's rows of the keys in
    ``keys`` (temporary table, one column named as the readers' key)."""

    rows: str
    keys: str


class SharedReads:
    """The inputs of one daily build read by keys by two models or more (``readers``), and
    what is kept of them so far."""

    def __init__(self, warehouse: Warehouse, ranged: list[Model]) -> None:
        self.warehouse = warehouse
        self.readers = sharing(ranged) if warehouse.capabilities.row_ids else {}
        self.kept: dict[tuple[str, str], _Kept] = {}

    def shared(self, model: Model) -> list[str]:
        """The inputs ``model`` reads through what is kept."""
        return [table for (table, _), models in self.readers.items() if model in models]

    def read(self, model: Model, table: str, keys: str, deltas: Mapping[str, str]) -> str:
        """The SELECT of ``model``'s declared rows of ``table`` for the keys in the temporary
        table ``keys``, from what is kept (fetched first where it lacks some of the keys).
        ``deltas``: table -> the temporary table of its changed rows, for the tables whose
        change is known so far (the later readers' keys foreseen from them)."""
        assert model.range is not None and model.range.column is not None
        column = model.range.column
        entry = (table, column)
        kept = self.kept.get(entry)
        if kept is None:
            number = len(self.kept)
            kept = _Kept(f"shared_rows_{number}", f"shared_keys_{number}")
            foreseen = [f"SELECT {column} FROM {keys}", *self._foreseen(model, entry, deltas)]
            temporary(self.warehouse, kept.keys, " UNION ".join(foreseen))
            temporary(self.warehouse, kept.rows, self._fetch(entry, kept.keys))
            self.kept[entry] = kept
        else:
            self._complete(entry, kept, keys)
        condition = dict(model.range.reads)[table]
        where = condition.replace("{keys}", _keys_subquery(column, keys))
        return f"SELECT * FROM {kept.rows} WHERE {where}"

    def forget(self, table: str) -> None:
        """``table`` was rewritten: what was kept of it is no longer its rows."""
        for entry in [e for e in self.kept if e[0] == table]:
            del self.kept[entry]

    def _foreseen(
        self, model: Model, entry: tuple[str, str], deltas: Mapping[str, str]
    ) -> list[str]:
        """The keys the later readers of ``entry`` will ask for, as far as their inputs'
        changes are known now (each a SELECT of the key column)."""
        readers = self.readers[entry]
        later = readers[readers.index(model) + 1 :]
        column = entry[1]
        return [
            f"SELECT {column} FROM {deltas[table]}"
            for reader in later
            for table in sorted(reader.reads)
            if table in deltas
        ]

    def _complete(self, entry: tuple[str, str], kept: _Kept, keys: str) -> None:
        """Fetch into ``kept`` the rows of the keys in ``keys`` it lacks, if any."""
        column = entry[1]
        missing = pipeline_sql("missing_keys", column=column, keys=keys, kept=kept.keys)
        temporary(self.warehouse, "shared_missing", missing)
        if self.warehouse.rows("SELECT count(*) FROM shared_missing")[0][0]:
            fetched = self._fetch(entry, "shared_missing")
            self.warehouse.execute(f"INSERT INTO {kept.rows} {fetched}")
            self.warehouse.execute(f"INSERT INTO {kept.keys} SELECT {column} FROM shared_missing")

    def _fetch(self, entry: tuple[str, str], keys: str) -> str:
        """The SELECT of ``entry``'s input rows whose key is in the temporary table ``keys``,
        with the columns every reader names (all where one may read every column)."""
        table, column = entry
        among = pipeline_fragment("keys_among", key=column, given=column, rows=keys)
        where = few_rows(self.warehouse, table, among)
        names = _names(tuple(self.readers[entry]), table)
        if names is None:
            return f"SELECT * FROM {table} WHERE {where}"
        listed = ", ".join(f"'{name}'" for name in names)
        picked = pipeline_fragment("named_columns", names=listed)
        return f"SELECT {picked} FROM {table} WHERE {where}"


def sharing(ranged: list[Model]) -> dict[tuple[str, str], list[Model]]:
    """(input, key column) -> the ranged models (in build order, two or more) that read the
    input by keys on that column through a condition ``<column> IN {keys}`` (alone or
    AND-ed with others): rebuilt by ``build.rebuild_keys`` (not a fast path), not reading
    their own table or the input they store."""
    found: dict[tuple[str, str], list[Model]] = {}
    for model in ranged:
        declared = model.range
        if declared is None or declared.grain != "key" or model.table in FAST_PATHS:
            continue
        column = str(declared.column)
        for table, condition in declared.reads:
            if table in (model.table, declared.stores) or not keyed_by(condition, column):
                continue
            found.setdefault((table, column), []).append(model)
    return {entry: models for entry, models in found.items() if len(models) > 1}


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
