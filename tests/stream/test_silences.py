"""The silences file shared by the engine, the API and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tally.errors import NotFoundError
from tally.stream.alerts import Matcher, Silence
from tally.stream.silences import SilenceStore


def test_add_expire_prune_and_change_detection(tmp_path: Path) -> None:
    store = SilenceStore(tmp_path / "silences.json")
    assert store.changed() and not store.changed()
    made = store.add(Silence(matchers=[Matcher.parse("key=s1")], starts_at=0, ends_at=100))
    assert store.changed()
    assert [s.id for s in store.read()] == [made.id]
    assert store.expire(made.id, now=50).ends_at == 50
    assert store.read()[0].active(49) and not store.read()[0].active(50)
    store.prune(now=60)
    assert store.read() == []
    with pytest.raises(NotFoundError):
        store.expire("nope", now=0)
