"""Users: argon2 hashes, authentication, per-site rights; on DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from tally.errors import BadInputError, NotFoundError
from tally.server import users
from tally.server.users import (
    add_user,
    authenticate,
    delete_user,
    get_user,
    grant,
    has_users,
    list_users,
    revoke,
    set_password,
)
from tally.warehouse import Warehouse

PASSWORD = "correct horse battery"
PRODUCTION_HASHER = users._hasher


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash with argon2's smallest cost; the production cost is checked once below."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def test_the_production_cost_is_argon2s_recommended_one() -> None:
    # RFC 9106's second recommended option, argon2-cffi's default: 64 MiB, 3 passes, 4 lanes.
    assert PRODUCTION_HASHER.hash("x").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def _site(warehouse: Warehouse, idsite: int) -> None:
    warehouse.execute(
        "INSERT INTO web.sites VALUES (?, ?, 'https://a.example', '[]', 'UTC', "
        "TIMESTAMP '2026-01-01 00:00:00')",
        [idsite, f"site {idsite}"],
    )


def test_only_an_argon2_hash_is_stored(warehouse: Warehouse) -> None:
    assert not has_users(warehouse)
    add_user(warehouse, "ada", PASSWORD, admin=True)
    stored = warehouse.rows("SELECT password_hash FROM tally_meta.users")[0][0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert has_users(warehouse)


def test_authentication(warehouse: Warehouse) -> None:
    add_user(warehouse, "ada", PASSWORD, admin=True)
    user = authenticate(warehouse, "ada", PASSWORD)
    assert user is not None and user.name == "ada" and user.is_admin
    assert authenticate(warehouse, "ada", PASSWORD + "!") is None
    assert authenticate(warehouse, "nobody", PASSWORD) is None
    assert authenticate(warehouse, "ada", "") is None


def test_bad_names_and_weak_passwords_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(BadInputError, match="at least 10"):
        add_user(warehouse, "ada", "short")
    with pytest.raises(BadInputError, match="user name"):
        add_user(warehouse, "ada; drop", PASSWORD)
    add_user(warehouse, "ada", PASSWORD)
    with pytest.raises(BadInputError, match="exists already"):
        add_user(warehouse, "ada", PASSWORD)


def test_site_rights(warehouse: Warehouse) -> None:
    _site(warehouse, 1)
    _site(warehouse, 2)
    add_user(warehouse, "bob", PASSWORD)
    grant(warehouse, "bob", 1, "view")
    bob = get_user(warehouse, "bob")
    assert bob is not None
    assert bob.can_view(1) and not bob.can_admin(1) and not bob.can_view(2)
    grant(warehouse, "bob", 1, "admin")  # replaces the earlier right
    assert get_user(warehouse, "bob").sites == {1: "admin"}
    revoke(warehouse, "bob", 1)
    assert get_user(warehouse, "bob").sites == {}
    with pytest.raises(BadInputError, match="view, admin"):
        grant(warehouse, "bob", 1, "owner")
    with pytest.raises(NotFoundError, match="no site 9"):
        grant(warehouse, "bob", 9, "view")
    with pytest.raises(NotFoundError, match="no user"):
        grant(warehouse, "carl", 1, "view")
    admin = add_user(warehouse, "ada", PASSWORD, admin=True)
    assert admin.can_view(2) and admin.can_admin(2)  # an admin needs no grants


def test_password_change_and_delete(warehouse: Warehouse) -> None:
    add_user(warehouse, "ada", PASSWORD)
    before = get_user(warehouse, "ada").password_changed_at
    set_password(warehouse, "ada", "another long password")
    assert authenticate(warehouse, "ada", PASSWORD) is None
    assert authenticate(warehouse, "ada", "another long password") is not None
    assert get_user(warehouse, "ada").password_changed_at >= before
    delete_user(warehouse, "ada")
    assert list_users(warehouse) == []
    with pytest.raises(NotFoundError):
        delete_user(warehouse, "ada")
