"""tally's own tables are read and written through one module per family
(``tally.warehouse.meta``, its queries in ``meta/queries/``): no other Python or SQL file
names a ``tally_meta.`` table, except the migrations. A backend's own bookkeeping (the
migrations it applied, Spark's table list) is no exception: its statements are in
``meta/bookkeeping.py`` and the backends run them from there."""

from __future__ import annotations

from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "tally"
READ_LAYER = SOURCE / "warehouse" / "meta"
MIGRATIONS = SOURCE / "warehouse" / "migrations.py"
MIGRATION_FILES = SOURCE / "warehouse" / "migrations"


def code_files() -> list[Path]:
    """tally's Python and SQL files (a query moved to a .sql file is still a read)."""
    return sorted([*SOURCE.rglob("*.py"), *SOURCE.rglob("*.sql")])


def offenders() -> list[str]:
    found = []
    for path in code_files():
        if path.is_relative_to(READ_LAYER) or path.is_relative_to(MIGRATION_FILES):
            continue
        if path == MIGRATIONS:
            continue
        name = str(path.relative_to(SOURCE))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "tally_meta." in line:
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
