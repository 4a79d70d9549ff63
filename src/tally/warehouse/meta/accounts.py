"""The accounts family: ``tally_meta.users`` (argon2 hashes), ``tally_meta.user_sites``
(per-site rights), ``tally_meta.sessions`` (SHA-256 of dashboard session ids) and
``tally_meta.api_tokens`` (SHA-256 of API tokens). Storage only: hashing, checks and
rights live in ``tally.server.users`` and ``tally.server.auth``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tally.warehouse.base import Warehouse
from tally.warehouse.meta import meta_sql

USERS = "tally_meta.users"
USER_SITES = "tally_meta.user_sites"
SESSIONS = "tally_meta.sessions"
API_TOKENS = "tally_meta.api_tokens"


# users and their rights


def user_exists(warehouse: Warehouse, name: str) -> bool:
    return bool(warehouse.rows(f"SELECT count(*) FROM {USERS} WHERE name = ?", [name])[0][0])


def has_users(warehouse: Warehouse) -> bool:
    return bool(warehouse.rows(f"SELECT count(*) FROM {USERS}")[0][0])


def insert_user(
    warehouse: Warehouse, name: str, password_hash: str, is_admin: bool, at: dt.datetime
) -> None:
    warehouse.execute(
        f"INSERT INTO {USERS} (name, password_hash, is_admin, created_at, "
        "password_changed_at) VALUES (?, ?, ?, ?, ?)",
        [name, password_hash, is_admin, at, at],
    )


def set_password_hash(
    warehouse: Warehouse, name: str, password_hash: str, changed_at: dt.datetime | None = None
) -> None:
    """A new hash; ``changed_at`` when the password itself changed (not a rehash)."""
    if changed_at is None:
        warehouse.execute(
            f"UPDATE {USERS} SET password_hash = ? WHERE name = ?", [password_hash, name]
        )
    else:
        warehouse.execute(
            f"UPDATE {USERS} SET password_hash = ?, password_changed_at = ? WHERE name = ?",
            [password_hash, changed_at, name],
        )


def password_hash(warehouse: Warehouse, name: str) -> str | None:
    found = warehouse.rows(f"SELECT password_hash FROM {USERS} WHERE name = ?", [name])
    return str(found[0][0]) if found else None


def user_row(warehouse: Warehouse, name: str) -> tuple[Any, ...] | None:
    """(name, is_admin, password_changed_at) or None."""
    found = warehouse.rows(
        f"SELECT name, is_admin, password_changed_at FROM {USERS} WHERE name = ?", [name]
    )
    return found[0] if found else None


def user_names(warehouse: Warehouse) -> list[str]:
    return [str(row[0]) for row in warehouse.rows(f"SELECT name FROM {USERS} ORDER BY name")]


def delete_user(warehouse: Warehouse, name: str) -> None:
    """The user and their rights (sessions are ended by the caller in the same transaction)."""
    warehouse.execute(f"DELETE FROM {USER_SITES} WHERE name = ?", [name])
    warehouse.execute(f"DELETE FROM {USERS} WHERE name = ?", [name])


def sites_of(warehouse: Warehouse, name: str) -> dict[int, str]:
    """idsite -> 'view' | 'admin' of one user."""
    return {
        int(idsite): str(rights)
        for idsite, rights in warehouse.rows(
            f"SELECT idsite, rights FROM {USER_SITES} WHERE name = ?", [name]
        )
    }


def all_sites(warehouse: Warehouse) -> dict[str, dict[int, str]]:
    """Every user's rights: name -> idsite -> 'view' | 'admin'."""
    rights: dict[str, dict[int, str]] = {}
    for name, idsite, right in warehouse.rows(f"SELECT name, idsite, rights FROM {USER_SITES}"):
        rights.setdefault(str(name), {})[int(idsite)] = str(right)
    return rights


def set_site_rights(warehouse: Warehouse, name: str, idsite: int, rights: str | None) -> None:
    """Replace the user's rights on a site; None removes them."""
    warehouse.execute(f"DELETE FROM {USER_SITES} WHERE name = ? AND idsite = ?", [name, idsite])
    if rights is not None:
        warehouse.execute(
            f"INSERT INTO {USER_SITES} (name, idsite, rights) VALUES (?, ?, ?)",
            [name, idsite, rights],
        )


# dashboard sessions (by the SHA-256 of their id)


def insert_session(
    warehouse: Warehouse, digest: str, name: str, at: dt.datetime, expires_at: dt.datetime
) -> None:
    warehouse.execute(
        f"INSERT INTO {SESSIONS} (session_hash, name, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [digest, name, at, expires_at],
    )


def session_name(warehouse: Warehouse, digest: str, now: dt.datetime) -> str | None:
    """The user of a session that has not expired at ``now``."""
    found = warehouse.rows(
        f"SELECT name FROM {SESSIONS} WHERE session_hash = ? AND expires_at > ?", [digest, now]
    )
    return str(found[0][0]) if found else None


def delete_session(warehouse: Warehouse, digest: str, now: dt.datetime) -> None:
    """One session, and every session expired at ``now``."""
    warehouse.execute(f"DELETE FROM {SESSIONS} WHERE session_hash = ?", [digest])
    warehouse.execute(f"DELETE FROM {SESSIONS} WHERE expires_at <= ?", [now])


def delete_sessions_of(warehouse: Warehouse, name: str) -> int:
    """Every session of a user; returns how many there were."""
    live = warehouse.rows(f"SELECT count(*) FROM {SESSIONS} WHERE name = ?", [name])
    warehouse.execute(f"DELETE FROM {SESSIONS} WHERE name = ?", [name])
    return int(live[0][0])


# API tokens (by the SHA-256 of the token)


def insert_token(
    warehouse: Warehouse,
    digest: str,
    name: str,
    at: dt.datetime,
    user: str | None,
    expires_at: dt.datetime | None,
) -> None:
    warehouse.execute(
        f"INSERT INTO {API_TOKENS} (token_hash, name, created_at, user_name, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [digest, name, at, user, expires_at],
    )


def token_rows(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(name, user_name, created_at, expires_at, revoked_at) of every token, oldest first."""
    return warehouse.rows(
        f"SELECT name, user_name, created_at, expires_at, revoked_at FROM {API_TOKENS} "
        "ORDER BY created_at"
    )


def live_tokens(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(token_hash, name, user_name, expires_at, the user's is_admin) of tokens not revoked
    whose user (if any) still exists."""
    return warehouse.rows(meta_sql("live_tokens"))


def revoke_tokens(warehouse: Warehouse, name: str, at: dt.datetime) -> int:
    """Mark every live token called ``name`` revoked; returns how many."""
    live = warehouse.rows(
        f"SELECT count(*) FROM {API_TOKENS} WHERE name = ? AND revoked_at IS NULL", [name]
    )[0][0]
    if live:
        warehouse.execute(
            f"UPDATE {API_TOKENS} SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            [at, name],
        )
    return int(live)
