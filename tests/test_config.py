import pytest

from tally.config import load_settings
from tally.errors import ConfigError
from tally.sources.settings import ItunesSettings


def test_embedded_defaults_point_into_the_data_dir(tmp_path):
    settings = load_settings(environ={})
    assert settings.data_dir == "./tally-data"
    assert settings.lake_url == "./tally-data/lake"
    assert settings.warehouse_url == "duckdb:///./tally-data/warehouse.duckdb"
    assert [c.code for c in settings.countries] == ["HK", "SG"]


def test_toml_file_then_environment_nested_with_double_underscore(tmp_path):
    file = tmp_path / "tally.toml"
    file.write_text('data_dir = "/srv/tally"\n[itunes]\nvendor_number = "111"\n')
    settings = load_settings(
        file, environ={"TALLY_ITUNES__VENDOR_NUMBER": "222", "TALLY_QUARANTINE_THRESHOLD": "0.1"}
    )
    assert settings.data_dir == "/srv/tally"
    assert settings.lake_url == "/srv/tally/lake"
    assert (
        settings.section(ItunesSettings).vendor_number == "222"
    )  # the environment wins over the file
    assert settings.quarantine_threshold == 0.1


def test_invalid_setting_names_the_key_and_the_expected_form():
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"TALLY_WAREHOUSE_URL": "mysql://x"})
    message = str(caught.value)
    assert "warehouse_url" in message
    assert "TALLY_WAREHOUSE_URL" in message
    assert "duckdb:///PATH" in message


def test_unknown_key_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match="quarantine_treshold"):
        load_settings(environ={"TALLY_QUARANTINE_TRESHOLD": "0.2"})


def test_bad_time_zone_is_refused(tmp_path):
    file = tmp_path / "tally.toml"
    file.write_text('[[countries]]\ncode = "HK"\nname = "Hong Kong"\ntimezone = "Asia/Hongkong_"\n')
    with pytest.raises(ConfigError, match="countries.0.timezone"):
        load_settings(file, environ={})


def test_masked_settings_hide_secrets():
    settings = load_settings(
        environ={
            "TALLY_ITUNES__PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----abc",
            "TALLY_SERVER__SECRET_KEY": "s3cret",
        }
    )
    masked = settings.masked()
    assert masked["sources"]["itunes"]["private_key"] == "********"
    assert masked["server"]["secret_key"] == "********"
    assert "s3cret" not in repr(masked) and "BEGIN PRIVATE" not in repr(masked)


def test_missing_named_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"TALLY_CONFIG": str(tmp_path / "nope.toml")})
