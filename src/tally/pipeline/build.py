"""Build: run the SQL models in dependency order, the order read from the SQL itself.

A model is one SELECT in DuckDB's dialect in ``tally/models/<schema>/<table>.sql``; it
becomes the table ``<schema>.<table>``. sqlglot finds the tables each model reads, so a
model that reads another runs after it, and a model whose inputs are not in the warehouse
yet (a source not configured) is skipped and said so, not failed.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import sqlglot
from sqlglot import exp

from tally.models.countries import write_countries
from tally.models.plans import write_plans
from tally.models.rates import write_rates
from tally.pipeline.context import Context
from tally.pipeline.ledger import Ledger, new_run_id

MODELS_PACKAGE = "tally.models"


@dataclass(frozen=True)
class Model:
    table: str  # schema.table
    sql: str
    path: str
    reads: frozenset[str]


def read_model(path: Path, schema: str) -> Model:
    sql = path.read_text(encoding="utf-8")
    return Model(f"{schema}.{path.stem}", sql.strip().rstrip(";"), str(path), tables_read(sql))


def tables_read(sql: str) -> frozenset[str]:
    """Schema-qualified tables a SELECT reads (its own CTE names excluded)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
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
    context: Context, models: list[Model] | None = None, run_id: str | None = None
) -> dict[str, str]:
    """Run every model; returns table → "ok" / "skipped: ..." ."""
    run_id = run_id or new_run_id()
    ledger = Ledger(context.warehouse)
    outcome: dict[str, str] = {}
    # tables written from settings or optional sources rather than SQL (country time
    # zones, plan names, exchange rates) come first
    write_countries(context.warehouse, context.settings)
    write_plans(context.warehouse)
    write_rates(context.warehouse, context.settings)
    for model in ordered(models if models is not None else discover_models()):
        # one warehouse session per model: the lock is held for one model, not the build
        with context.warehouse.session(), ledger.step(run_id, "build", dataset=model.table) as step:
            missing = sorted(t for t in model.reads if not context.warehouse.table_exists(t))
            if missing:
                step.status, step.error = "skipped", f"inputs not loaded yet: {', '.join(missing)}"
                outcome[model.table] = f"skipped: {step.error}"
                continue
            context.warehouse.materialize(model.table, model.sql)
            count = context.warehouse.rows(f"SELECT count(*) FROM {model.table}")[0][0]
            step.rows_out = count
            outcome[model.table] = "ok"
    return outcome
