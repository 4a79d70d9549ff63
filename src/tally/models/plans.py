"""Plan names from the IAP plan map as a table the marts join to: ``marts.dim_plan``.

The plan map (a Google Drive sheet, ``staging.google_drive_iap_plan_map``) is an optional
source: where it is not loaded the subscriber marts must still build, with no plan names.
A SQL model reading it would be skipped, and every mart joined to it with it; so, like the
countries, this small table is written before the models run, empty when there is no map.
"""

from __future__ import annotations

import pyarrow as pa

from tally.models.written import replace_rows
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

TABLE = "marts.dim_plan"
SOURCE = "staging.google_drive_iap_plan_map"
SCHEMA = pa.schema(
    [("platform", pa.string()), ("plan_code", pa.string()), ("plan_name", pa.string())]
)


def plan_table(warehouse: Warehouse) -> pa.Table:
    """(platform, plan code, plan name) from the newest plan map; empty without a map."""
    if not warehouse.table_exists(SOURCE):
        return SCHEMA.empty_table()
    # the newest snapshot of the map, one name per (platform, plan code)
    rows = warehouse.rows(sql_file("tally.models", "marts/_plan_names.sql"))
    return pa.Table.from_pylist(
        [dict(zip(SCHEMA.names, row, strict=True)) for row in rows], schema=SCHEMA
    )


def write_plans(warehouse: Warehouse) -> int:
    """Replace ``marts.dim_plan`` with the newest plan map; returns the count."""
    return replace_rows(warehouse, TABLE, plan_table(warehouse))
