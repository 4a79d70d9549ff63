"""tally's own tables are read and written through one module per family
(``tally.warehouse.meta``, its queries in ``meta/queries/``): no other Python or SQL file
names a ``tally_meta.`` table, except the migrations and a backend's own bookkeeping."""

from __future__ import annotations

from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "tally"
READ_LAYER = SOURCE / "warehouse" / "meta"
MIGRATIONS = SOURCE / "warehouse" / "migrations.py"
MIGRATION_FILES = SOURCE / "warehouse" / "migrations"


def code_files() -> list[Path]:
    """tally's Python and SQL files (a query moved to a .sql file is still a read)."""
    return sorted([*SOURCE.rglob("*.py"), *SOURCE.rglob("*.sql")])


# A backend's folder keeps its own bookkeeping: the migrations it applied (the migration
# runner's table) and Spark's table registry; state of the backend, not tally's data, read
# nowhere else. Only these two names are let through there.
BOOKKEEPING = ("tally_meta.migrations", "tally_meta.spark_tables")


def in_a_backend(path: Path) -> bool:
    folder = path.relative_to(SOURCE).parts
    return len(folder) > 2 and folder[0] == "warehouse" and folder[1] not in ("meta", "migrations")


def names_tally_meta(line: str, path: Path) -> bool:
    if in_a_backend(path):
        for table in BOOKKEEPING:
            line = line.replace(table, "")
    return "tally_meta." in line


def offenders() -> list[str]:
    found = []
    for path in code_files():
        if path.is_relative_to(READ_LAYER) or path.is_relative_to(MIGRATION_FILES):
            continue
        if path == MIGRATIONS:
            continue
        name = str(path.relative_to(SOURCE))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if names_tally_meta(line, path):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_only_the_read_layer_names_tally_meta_tables() -> None:
    assert offenders() == []


# Web sites and goals are read through tally.web.sites (site_exists, site_names,
# site_timezones, goal_exists, goal_names, list_sites, ...); a join inside a report's query
# is not a read of the family.
SITES_MODULE = SOURCE / "web" / "sites.py"
SITES_QUERIES = SOURCE / "web" / "models" / "sites"  # its queries, read by sites.py alone


def site_readers() -> list[str]:
    found = []
    for path in code_files():
        name = str(path.relative_to(SOURCE))
        if path == SITES_MODULE or path.is_relative_to(SITES_QUERIES):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "FROM web.sites" in line or "FROM web.goals" in line:
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_sites_and_goals_are_read_through_their_module() -> None:
    assert site_readers() == []
