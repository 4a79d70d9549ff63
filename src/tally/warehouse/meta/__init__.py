"""The read layer of tally's own tables (``tally_meta.*``): one module per family.

``runs`` (the run ledger), ``lake_files`` (the manifest of landed raw files),
``quarantine`` (rows set aside by loads), ``hitlog`` (how far each hit-log segment is
loaded), ``accounts`` (users, their site rights, dashboard sessions, API tokens) and
``bookkeeping`` (the statements a backend runs on its own tables: migrations applied,
Spark's table list).
Dashboards, the CLI, ``/metrics``, the scheduler, the pipeline, the hit loaders, the
server's auth and the stream's ledger input call these functions instead of writing SQL
against the tables; ``tests/test_read_layer.py`` fails when ``tally_meta.`` appears in
Python or SQL outside this package and the migrations. It sits in the warehouse package, the
lowest one every reader may import, and imports only the ``Warehouse`` protocol and
``sql_file`` (the longer queries are files in ``meta/queries/``).
"""

from tally.warehouse.sqlfiles import sql_file


def meta_sql(name: str, **fragments: str) -> str:
    """A longer query of the family modules, kept in ``meta/queries/<name>.sql``."""
    return sql_file("tally.warehouse.meta", f"queries/{name}.sql", **fragments)
