"""Engine state on disk: one JSON document, replaced atomically (write, fsync, rename)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from tally.errors import BadInputError

VERSION = 1


def save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump({"version": VERSION, **state}, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load(path: Path) -> dict[str, Any] | None:
    """The saved state, None when there is none; a damaged file is an error, not a reset."""
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BadInputError(
            f"checkpoint is not valid JSON ({error}); move it away to start fresh",
            file=str(path),
            line=error.lineno,
        ) from error
    if data.get("version") != VERSION:
        raise BadInputError(
            f"checkpoint version {data.get('version')!r} is not {VERSION}", file=str(path)
        )
    return data
