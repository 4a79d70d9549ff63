"""The configured countries as a table the models join to: ``marts.dim_country``.

A country's business day is in its own time zone, and the zones live in the settings, not
in SQL; so this small table is written from the settings before the models run. It also
carries the mart settings a model needs (``marts.content_window_days``,
``trials_in_active``, ``concurrent_subscription``, ``attribution_window_days``).
"""

from __future__ import annotations

import pyarrow as pa

from tally.config import Settings
from tally.models.written import replace_rows
from tally.warehouse import Warehouse

TABLE = "marts.dim_country"


def country_table(settings: Settings) -> pa.Table:
    return pa.table(
        {
            "code": pa.array([c.code.upper() for c in settings.countries], pa.string()),
            "name": pa.array([c.name for c in settings.countries], pa.string()),
            "timezone": pa.array([c.timezone for c in settings.countries], pa.string()),
            # settings the marts read, carried on each country's row so a model joins once
            "content_window_days": pa.array(
                [settings.marts.content_window_days] * len(settings.countries), pa.int32()
            ),
            "trials_in_active": pa.array(
                [settings.marts.trials_in_active] * len(settings.countries), pa.bool_()
            ),
            "concurrent_subscription": pa.array(
                [settings.marts.concurrent_subscription] * len(settings.countries), pa.string()
            ),
            "attribution_window_days": pa.array(
                [settings.marts.attribution_window_days] * len(settings.countries), pa.int32()
            ),
        }
    )


def write_countries(warehouse: Warehouse, settings: Settings) -> int:
    """Replace ``marts.dim_country`` with the configured countries; returns the count."""
    return replace_rows(warehouse, TABLE, country_table(settings))
