"""tally's own schema, as numbered SQL files applied once each (``tally_meta.migrations``)."""

from __future__ import annotations

from importlib import resources

MIGRATIONS_PACKAGE = "tally.warehouse"


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration in order."""
    folder = resources.files(MIGRATIONS_PACKAGE).joinpath("migrations")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name, f.read_text(encoding="utf-8")) for f in files]
