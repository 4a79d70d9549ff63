"""tally's own tables are read and written through one module per family
(``tally.warehouse.meta``): no other Python file names a ``tally_meta.`` table, except the
migrations and a backend's own bookkeeping."""

from __future__ import annotations

from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "tally"
READ_LAYER = SOURCE / "warehouse" / "meta"
MIGRATIONS = SOURCE / "warehouse" / "migrations.py"


def in_a_backend(path: Path) -> bool:
    """A backend's folder keeps its own bookkeeping (the migrations it applied, Spark's
    tables): state of the backend, not tally's data, read nowhere else."""
    folder = path.relative_to(SOURCE).parts
    return len(folder) > 2 and folder[0] == "warehouse" and folder[1] != "meta"


def offenders() -> list[str]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.is_relative_to(READ_LAYER) or path == MIGRATIONS or in_a_backend(path):
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
SITES_NOT_YET: set[str] = set()


def site_readers() -> list[str]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        name = str(path.relative_to(SOURCE))
        if path == SITES_MODULE or name in SITES_NOT_YET:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "FROM web.sites" in line or "FROM web.goals" in line:
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_sites_and_goals_are_read_through_their_module() -> None:
    assert site_readers() == []


def test_the_sites_list_of_files_not_moved_yet_only_shrinks() -> None:
    stale = [
        name
        for name in sorted(SITES_NOT_YET)
        if "FROM web.sites" not in (SOURCE / name).read_text(encoding="utf-8")
        and "FROM web.goals" not in (SOURCE / name).read_text(encoding="utf-8")
    ]
    assert stale == []
