"""The read layer of tally's own tables (``tally_meta.*``): one module per family.

``runs`` (the run ledger), ``lake_files`` (the manifest of landed raw files) and
``quarantine`` (rows set aside by loads). Dashboards, the CLI, ``/metrics``, the scheduler,
the pipeline and the stream's ledger input call these functions instead of writing SQL
against the tables; ``tests/test_read_layer.py`` fails when ``tally_meta.`` appears in
Python outside this package, the migrations and the modules still listed there. It sits in
the warehouse package, the lowest one every reader may import, and imports only the
``Warehouse`` protocol.
"""
