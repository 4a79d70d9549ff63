"""Silences in their own file, so ``tally alerts silence`` works while the engine runs.

Writers hold an exclusive ``fcntl`` lock on a sidecar file; the engine re-reads the file
when its modification time changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from tally.errors import BadInputError, NotFoundError
from tally.stream.alerts import Silence


class SilenceStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: float | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self) -> list[Silence]:
        if not self.path.exists():
            return []
        try:
            items = json.loads(self.path.read_text(encoding="utf-8"))
            return [Silence.model_validate(item) for item in items]
        except (json.JSONDecodeError, ValueError) as error:
            raise BadInputError(
                f"silences file is damaged: {error}", file=str(self.path)
            ) from error

    def _write(self, silences: list[Silence]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(
            json.dumps([s.model_dump() for s in silences], indent=1), encoding="utf-8"
        )
        os.replace(temporary, self.path)

    def add(self, silence: Silence) -> Silence:
        with self._locked():
            silences = [s for s in self.read() if s.id != silence.id]
            self._write([*silences, silence])
        return silence

    def expire(self, silence_id: str, now: float) -> Silence:
        """End a silence now (kept in the file until it is pruned)."""
        with self._locked():
            silences = self.read()
            for silence in silences:
                if silence.id == silence_id:
                    silence.ends_at = min(silence.ends_at, now)
                    self._write(silences)
                    return silence
        raise NotFoundError(f"no silence with id {silence_id!r}")

    def prune(self, now: float) -> None:
        with self._locked():
            silences = self.read()
            kept = [s for s in silences if s.ends_at > now]
            if len(kept) != len(silences):
                self._write(kept)

    def changed(self) -> bool:
        """True once after each change of the file (and on the first call)."""
        stamp = self.path.stat().st_mtime_ns if self.path.exists() else 0.0
        if stamp == self._seen:
            return False
        self._seen = stamp
        return True
