"""One source's block of ``settings.sources``, whichever way its name was spelled.

Source names have hyphens (``google-play``) and TOML keeps them, but an environment variable
cannot: ``TALLY_SOURCES__GOOGLE_PLAY__BUCKET`` arrives as ``sources.google_play``. Both
spellings are read; the underscored one wins key by key, so the environment overrides the
file as it does for every other setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tally.config import Settings


def source_settings(settings: Settings, source: str) -> dict[str, Any]:
    """The merged settings of one source (a copy: callers may change it freely)."""
    underscored = settings.sources.get(source.replace("-", "_")) or {}
    hyphenated = settings.sources.get(source) or {}
    return {**hyphenated, **underscored}
