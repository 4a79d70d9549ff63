"""What each model's table is built from, as a fingerprint the build stores with it.

The daily build extends the stored tables with the rows of the new days; that is only the
full build's result when the stored rows were made by the same definition. After an
upgrade of tally (a model that gained a column, or whose SQL changed meaning) or a change
of the settings the marts read, they were not: the daily build would fail on a missing
column, or mix rows of the old logic with rows of the new. So the full build records, per
model, a fingerprint of:

- the model's text: its SQL and its ``-- @`` range declaration (``sql``), and, when it
  calls ``hash(...)``, what the warehouse runs that as, with DuckDB's version (a hash
  stored by one DuckDB is not comparable with one of another);
- the settings the tables written before the models carry, when the model reads one
  (countries and their time zones, the ``[marts]`` settings, the reporting currency:
  ``settings``);
- the fingerprints of the models it reads (``whole`` covers the two above and these), so a
  change reaches every model downstream, even if a build stopped between the two.

and the daily build compares them (``changed``): a model whose fingerprint differs from the
stored one, or that has none (a warehouse built before fingerprints), is rebuilt fully, and
so is every model reading it; the others stay daily. Not covered, on purpose: the daily
build's own code (it must give the full build's rows whatever the data; the property tests
check it), and data (a revised exchange rate or plan name reaches the past with the next
full build, docs/metrics.md). Computing them hashes the model texts once: well under a
millisecond for the 43 models.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tally.config import Settings
from tally.pipeline.build import Model, ordered
from tally.warehouse import Warehouse
from tally.warehouse.meta import fingerprints as stored_fingerprints

# the tables the build writes before the models from the settings (models/countries.py,
# models/rates.py): a model reading one depends on the settings they carry
FROM_SETTINGS = frozenset(
    {"marts.dim_country", "marts.dim_exchange_rate", "marts.dim_exchange_rate_day"}
)
NO_FINGERPRINT = "no fingerprint stored (built by a tally from before fingerprints)"
SQL_CHANGED = "its SQL (or the hash function it calls) changed since the last build"
# a model calling the warehouse's hash(...) may store its values (segment_id): they depend on
# the function the warehouse runs it as (Capabilities.hash_function)
CALLS_HASH = re.compile(r"\bhash\s*\(", re.IGNORECASE)
SETTINGS_CHANGED = "the settings it reads (countries, [marts]) changed since the last build"


@dataclass(frozen=True)
class Fingerprint:
    whole: str  # the model's text, the settings it reads and its inputs' fingerprints
    sql: str  # the model's text alone
    settings: str  # the settings it reads ("" when it reads none)

    def hashes(self) -> tuple[str, str, str]:
        return self.whole, self.sql, self.settings


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def settings_digest(settings: Settings) -> str:
    """The settings the tables written before the models carry."""
    read = {
        "countries": [country.model_dump(mode="json") for country in settings.countries],
        "marts": settings.marts.model_dump(mode="json"),
    }
    return _digest(json.dumps(read, sort_keys=True))


def fingerprints(
    models: Iterable[Model],
    settings: Settings,
    stored: Mapping[str, tuple[str, ...]],
    hashing: str = "",
) -> dict[str, Fingerprint]:
    """model → its fingerprint. An input that is no model of ``models`` counts by the
    fingerprint ``stored`` with its table (a model built before, alone: its table as it
    stands is what this build reads), or by its name alone (a loaded table). ``hashing``:
    what the warehouse's hash() runs as (``Capabilities.hash_function``), part of the
    fingerprint of every model calling it, so that an upgrade changing its values (a new
    DuckDB) rebuilds those models fully instead of mixing hashes of two functions."""
    chosen = list(models)
    read_settings = settings_digest(settings)
    found = {table: Fingerprint(hashes[0], "", "") for table, hashes in stored.items()}
    for model in ordered(chosen):
        sql = _digest(model.sql + (hashing if CALLS_HASH.search(model.sql) else ""))
        reads = read_settings if model.reads & FROM_SETTINGS else ""
        inputs = [f"{t}={found[t].whole if t in found else ''}" for t in sorted(model.reads)]
        whole = _digest("\n".join([model.table, sql, reads, *inputs]))
        found[model.table] = Fingerprint(whole, sql, reads)
    return {model.table: found[model.table] for model in chosen}


def changed(
    current: Mapping[str, Fingerprint],
    stored: Mapping[str, tuple[str, str, str]],
    models: Iterable[Model],
    tables: set[str],
) -> dict[str, str]:
    """model → why it must be rebuilt fully, for each model whose table is in the warehouse
    (``tables``) and whose stored fingerprint is missing or differs, or that reads a model
    rebuilt fully or not built yet; in dependency order."""
    reasons: dict[str, str] = {}
    unbuilt: set[str] = set()
    for model in ordered(list(models)):
        name = model.table
        if name not in tables:
            unbuilt.add(name)  # built whole anyway, as a model added since the last build
            continue
        now, before = current[name], stored.get(name)
        upstream = sorted(t for t in model.reads if t in reasons or t in unbuilt)
        if before is None:
            reasons[name] = NO_FINGERPRINT
        elif before[1] != now.sql:
            reasons[name] = SQL_CHANGED
        elif before[2] != now.settings:
            reasons[name] = SETTINGS_CHANGED
        elif upstream:
            state = "rebuilt fully" if upstream[0] in reasons else "not built before"
            reasons[name] = f"it reads {upstream[0]}, {state}"
        elif before[0] != now.whole:  # a model it reads that is not in this build
            reasons[name] = "a model it reads changed since the last build"
    return reasons


def stored(warehouse: Warehouse) -> dict[str, tuple[str, str, str]]:
    """model → (whole, SQL, settings) as the last build of each model stored them."""
    return stored_fingerprints.stored(warehouse)


def forget(warehouse: Warehouse, model: str) -> None:
    """No fingerprint for ``model`` (its table is being rewritten)."""
    stored_fingerprints.forget(warehouse, model)


def record(warehouse: Warehouse, model: str, fingerprint: Fingerprint, run_id: str) -> None:
    """Store the fingerprint ``model``'s table was just built from."""
    stored_fingerprints.record(warehouse, model, fingerprint.hashes(), run_id)
