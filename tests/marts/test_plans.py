"""marts.dim_plan: plan names from the newest IAP plan map, empty without a map."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from tally.models.plans import TABLE, write_plans

from .conftest import memory_warehouse


def test_without_a_plan_map_the_table_is_empty_but_there() -> None:
    warehouse = memory_warehouse()
    assert write_plans(warehouse) == 0
    assert warehouse.columns(TABLE) == ["platform", "plan_code", "plan_name"]


def test_one_name_per_plan_from_the_newest_snapshot() -> None:
    warehouse = memory_warehouse()
    old, new = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
    warehouse.append(
        "staging.google_drive_iap_plan_map",
        pa.table(
            {
                "product_id": ["a", "a", "b", "c"],
                "plan_name": ["Old", "Monthly", "Monthly (HD box)", "Weekly"],
                "plan_code": ["M", "M", "M", "W"],
                "platform": ["iOS IAP"] * 4,
                "_partition_date": pa.array([old, new, new, old], pa.date32()),
            }
        ),
    )
    write_plans(warehouse)
    write_plans(warehouse)  # a rerun replaces, never duplicates
    # W is only in the older sheet; two products share M: the first name alphabetically
    assert warehouse.rows(f"SELECT * FROM {TABLE}") == [("iOS IAP", "M", "Monthly")]
