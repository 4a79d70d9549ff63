"""A source's settings under either spelling of its name (environment names have no '-')."""

from __future__ import annotations

from tally.config import load_settings
from tally.sources._settings import source_settings


def test_environment_spelling_is_read_and_overrides_the_file(tmp_path) -> None:
    (tmp_path / "tally.toml").write_text(
        '[sources.google-play]\nbucket = "pubsite_prod_rev_1"\n', encoding="utf-8"
    )
    settings = load_settings(
        tmp_path / "tally.toml",
        environ={
            "TALLY_SOURCES__GOOGLE_PLAY__BUCKET": "from-env",
            "TALLY_SOURCES__GOOGLE_PLAY__PACKAGES": "com.example.app",
        },
    )
    play = source_settings(settings, "google-play")
    assert (play["bucket"], play["packages"]) == ("from-env", ["com.example.app"])
    assert source_settings(settings, "viu-cms")["url"] is None  # not configured: defaults
