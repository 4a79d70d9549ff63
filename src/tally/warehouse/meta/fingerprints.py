"""``tally_meta.model_fingerprints``: what each built model's table was built from, one
row per model (written by ``pipeline.build`` with the model's table, compared by the daily
build: ``pipeline.fingerprints``)."""

from __future__ import annotations

import datetime as dt

from tally.warehouse.base import Warehouse

TABLE = "tally_meta.model_fingerprints"


def stored(warehouse: Warehouse) -> dict[str, tuple[str, str, str]]:
    """model → (fingerprint, SQL hash, settings hash) of its last build; empty where the
    table is not there (a warehouse not migrated yet)."""
    if not warehouse.table_exists(TABLE):
        return {}
    found = warehouse.rows(f"SELECT model, fingerprint, sql_hash, settings_hash FROM {TABLE}")
    return {str(model): (str(whole), str(sql), str(read)) for model, whole, sql, read in found}


def forget(warehouse: Warehouse, model: str) -> None:
    """No stored fingerprint for ``model``."""
    warehouse.execute(f"DELETE FROM {TABLE} WHERE model = ?", [model])


def record(
    warehouse: Warehouse, model: str, hashes: tuple[str, str, str], run_id: str | None
) -> None:
    """The fingerprint (whole, SQL, settings) ``model``'s table was just built from."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    forget(warehouse, model)
    warehouse.execute(
        f"INSERT INTO {TABLE} (model, fingerprint, sql_hash, settings_hash, run_id, built_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [model, *hashes, run_id, now],
    )
