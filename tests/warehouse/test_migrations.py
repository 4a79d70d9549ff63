"""Which migration files each backend applies, and DuckDB's unkeyed sessions tables."""

from __future__ import annotations

import datetime as dt

from tally.warehouse import Warehouse
from tally.warehouse.migrations import migration_backend, migration_files

UNKEYED = "112_web_unkeyed_sessions.duckdb.sql"


def test_a_backend_applies_the_shared_migrations_and_its_own() -> None:
    assert migration_backend("003_web_sessions.sql") == ""
    assert migration_backend(UNKEYED) == "duckdb"
    shared = [name for name, _ in migration_files()]
    on_duckdb = [name for name, _ in migration_files("duckdb")]
    assert UNKEYED not in shared
    assert "003_web_sessions.sql" in shared
    assert on_duckdb == sorted([*shared, UNKEYED])


def test_duckdb_keeps_web_actions_and_visits_without_keys_and_their_rows(
    duckdb_warehouse: Warehouse,
) -> None:
    store = duckdb_warehouse
    constraints = "SELECT count(*) FROM duckdb_constraints() WHERE schema_name = 'web' " + (
        "AND table_name IN ('actions', 'visits') AND constraint_type = 'PRIMARY KEY'"
    )
    assert store.rows(constraints) == [(0,)]
    day, when = dt.date(2026, 3, 2), dt.datetime(2026, 3, 2, 1, 0)
    store.execute(
        "INSERT INTO web.actions (hit_id, idsite, local_date, idvisit, visitor_key, position, "
        "hit_time, local_time, kind, is_action, url) "
        "VALUES ('seg-1:1', 1, ?, 'v1', 'c:a', 1, ?, ?, 'pageview', TRUE, 'https://a/')",
        [day, when, when],
    )
    store.execute(
        "INSERT INTO web.visits (idvisit, idsite, local_date, visitor_key, first_hit_id, "
        "started_at, ended_at, duration_seconds, actions, pageviews, outlinks, downloads, "
        "events, searches, conversions, revenue) "
        "VALUES ('v1', 1, ?, 'c:a', 'seg-1:1', ?, ?, 0, 1, 1, 0, 0, 0, 0, 0, 0)",
        [day, when, when],
    )
    # a warehouse migrated before the file: the tables are rebuilt, their rows kept
    store.execute("DELETE FROM tally_meta.migrations WHERE name = ?", [UNKEYED])
    assert store.migrate() == [UNKEYED]
    assert store.rows("SELECT hit_id, idvisit, position, url FROM web.actions") == [
        ("seg-1:1", "v1", 1, "https://a/")
    ]
    assert store.rows("SELECT idvisit, first_hit_id, actions FROM web.visits") == [
        ("v1", "seg-1:1", 1)
    ]
    assert store.rows(constraints) == [(0,)]
