"""PostgreSQL backend; with ``dialect=redshift`` the same code serves Amazon Redshift."""

from tally.warehouse.postgres.backend import CAPABILITIES, PostgresWarehouse

__all__ = ["CAPABILITIES", "PostgresWarehouse"]
