"""One source's block of the settings, as plain data (secrets revealed: callers pass them
to clients, never to a log)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from tally.sources.settings import BY_SOURCE

if TYPE_CHECKING:
    from tally.config import Settings


def source_settings(settings: Settings, source: str) -> dict[str, Any]:
    """The settings of one source (a copy: callers may change it freely); empty for a
    source that declares none."""
    model = BY_SOURCE.get(source)
    if model is None:
        return {}
    return _revealed(settings.section(model))


def _revealed(block: BaseModel) -> dict[str, Any]:
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in block.model_dump().items()
    }
