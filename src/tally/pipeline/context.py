"""What every pipeline step needs: settings, the warehouse and the lake."""

from __future__ import annotations

from dataclasses import dataclass

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline.ledger import abandon_dead_steps
from tally.warehouse import Warehouse, from_settings


@dataclass
class Context:
    settings: Settings
    warehouse: Warehouse
    lake: Lake


def open_context(settings: Settings) -> Context:
    """Connect to the configured warehouse (migrated; steps of dead processes marked
    abandoned) and lake."""
    options = {}
    if settings.lake_url.startswith("s3://") and settings.s3_endpoint_url:
        options["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
    warehouse = from_settings(settings)
    abandon_dead_steps(warehouse)
    return Context(settings, warehouse, Lake(settings.lake_url, options))
