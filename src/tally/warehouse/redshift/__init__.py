"""The Amazon Redshift backend (registered in ``tally.warehouse.registry`` as ``redshift``)."""

from __future__ import annotations

from tally.warehouse.redshift.backend import CAPABILITIES, RedshiftWarehouse, open_warehouse

__all__ = ["CAPABILITIES", "RedshiftWarehouse", "open_warehouse"]
