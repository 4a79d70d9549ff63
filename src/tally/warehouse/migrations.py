"""tally's own schema, as numbered SQL files applied once each (``tally_meta.migrations``).

``NNN_name.sql`` applies to every backend; ``NNN_name.<backend>.sql`` (e.g. ``.duckdb.sql``)
only to that backend's warehouses, for a physical choice that suits one engine alone.
"""

from __future__ import annotations

from importlib import resources

MIGRATIONS_PACKAGE = "tally.warehouse"


def migration_files(backend: str = "") -> list[tuple[str, str]]:
    """(name, sql) in order of every migration for every backend, and of ``backend``'s own."""
    folder = resources.files(MIGRATIONS_PACKAGE).joinpath("migrations")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [
        (f.name, f.read_text(encoding="utf-8"))
        for f in files
        if migration_backend(f.name) in ("", backend)
    ]


def migration_backend(name: str) -> str:
    """The backend a migration file is for ('' for every one): ``112_x.duckdb.sql`` is
    DuckDB's."""
    stem = name.removesuffix(".sql")
    return stem.rpartition(".")[2] if "." in stem else ""
