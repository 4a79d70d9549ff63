"""The settings tree as a whole: the generated reference (docs/settings.md) is current, every
variable it lists reaches its key, and a misspelt key in any block fails naming it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from tally.config import (
    Entry,
    backend_option_entries,
    load_settings,
    reference_entries,
    settings_reference,
)
from tally.errors import ConfigError

REFERENCE = Path(__file__).parent.parent / "docs" / "settings.md"


def test_the_reference_is_generated_from_the_models() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == settings_reference(), (
        "docs/settings.md is stale: PYTHONPATH=src python -m tally.config > docs/settings.md"
    )


def documented_variables() -> list[str]:
    """The variable column of docs/settings.md, as a reader sees it."""
    text = REFERENCE.read_text(encoding="utf-8")
    return re.findall(r"^\| `[^`]+` \| `(TALLY_[A-Z0-9_]+)` \|", text, flags=re.MULTILINE)


def value_at(settings: Any, key: str) -> Any:
    node = settings
    for part in key.split("."):
        node = getattr(node, part)
    return node.get_secret_value() if isinstance(node, SecretStr) else node


# Values to try, by the form the reference states; the first one the model accepts that
# differs from the default is used and must be read back at the key (a value equal to the
# default would pass without the variable ever arriving). Lists and tables are JSON.
PROBES: dict[str, list[str]] = {
    "true or false": ["true", "false"],
    "integer": ["3", "1", "0"],
    "number": ["2.5", "0.5", "1", "20"],
    "text": [
        "probe-value",
        "0 3 * * *",
        "Asia/Singapore",
        "duckdb:///tmp/probe.duckdb",
        "nats://127.0.0.1:4222",
        "EUR",
    ],
    "secret text": ["probe-secret"],
}
# JSON values by key where the form alone does not say what the model accepts (a list of
# blocks, a table of blocks, network addresses); compared as they were given
JSON_PROBES: dict[str, str] = {
    "warehouse.options": '{"master": "local[2]"}',  # with a Spark URL (NEEDS)
    "countries": '[{"code": "TH", "name": "Thailand", "timezone": "Asia/Bangkok"}]',
    "server.trusted_proxies": '["10.1.0.0/16"]',
    "sources.google_drive.sheets": '{"plan-map": {"spreadsheet_id": "probe", "range": "A:C"}}',
    "sources.google_analytics.queries": '{"web-uv": {"metrics": ["activeUsers"]}}',
    "stream.receivers": '[{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/hook"}]',
    "stream.inhibit_rules": (
        '[{"source_match": {"alertname": "a"}, "target_match": {"alertname": "b"}, '
        '"equal": ["source"]}]'
    ),
}


# other variables a key's probe needs: the table of backend options is checked against the
# URL's backend, and DuckDB (the default) takes none
NEEDS: dict[str, dict[str, str]] = {"warehouse.options": {"TALLY_WAREHOUSE_URL": "spark://h:7077"}}


def probes(entry: Entry) -> list[str]:
    if entry.key in JSON_PROBES:
        return [JSON_PROBES[entry.key]]
    for form, values in PROBES.items():
        if entry.form == form or entry.form.startswith((form + " ", form + ",")):
            return values
    if entry.form.startswith("one of "):
        return [choice.strip() for choice in entry.form[len("one of ") :].split(",")]
    if entry.form.startswith("JSON table"):
        return ['{"probe": "probe-value"}']
    if entry.form.startswith("JSON list"):
        return ['["probe-a", "probe-b"]']
    if "or empty" in entry.form:  # number or text with nothing set
        return ["4", "probe-value"]
    return []


def plain(value: Any) -> Any:
    """A setting's value as JSON would give it (models, secrets and networks as text)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return {name: plain(item) for name, item in value}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def given(expected: Any, found: Any) -> bool:
    """Is every part of ``expected`` (a JSON value as given) in ``found`` (as read)?"""
    if isinstance(expected, dict):
        return isinstance(found, dict) and all(
            key in found and given(item, found[key]) for key, item in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(found, list)
            and len(found) == len(expected)
            and all(given(e, f) for e, f in zip(expected, found, strict=True))
        )
    return bool(expected == found)


def parsed(raw: str, value: Any) -> bool:
    """Did the raw text arrive as ``value`` (as pydantic reads it)?"""
    if isinstance(value, bool):
        return value == (raw == "true")
    if isinstance(value, int | float):
        return float(raw) == value
    if isinstance(value, str):
        return raw == value
    return given(json.loads(raw), plain(value))


def variable_cases() -> list[tuple[str, dict[str, str], Entry]]:
    """(variable, the other variables it needs, entry) of every documented key: a backend's
    option is set with a warehouse URL of that backend."""
    cases = [(entry.variable, NEEDS.get(entry.key, {}), entry) for entry in reference_entries()]
    cases += [
        (entry.variable, {"TALLY_WAREHOUSE_URL": example}, entry)
        for _, example, entry in backend_option_entries()
    ]
    return cases


def value_read(settings: Any, entry: Entry) -> Any:
    if entry.key.startswith("warehouse.options."):  # one table: the backend's keys in it
        return settings.warehouse.options.get(entry.key.rsplit(".", 1)[1])
    return value_at(settings, entry.key)


@pytest.mark.parametrize(
    "variable, needed, entry", variable_cases(), ids=[case[0] for case in variable_cases()]
)
def test_every_documented_variable_reaches_its_key(
    variable: str, needed: dict[str, str], entry: Entry
) -> None:
    assert variable in documented_variables()
    tried = []
    for raw in probes(entry):
        if raw == entry.default:
            continue
        try:
            settings = load_settings(environ={**needed, variable: raw})
        except ConfigError as error:
            tried.append(f"{raw!r}: {error}")
            continue
        assert parsed(raw, value_read(settings, entry)), (variable, raw)
        return
    pytest.fail(f"no probe value other than the default accepted for {variable}: {tried}")


def test_every_block_and_every_setting_is_documented() -> None:
    variables = documented_variables()
    assert len(variables) == len(set(variables)) == len(variable_cases())
    blocks = {entry.key.rsplit(".", 1)[0] for entry in reference_entries() if "." in entry.key}
    assert {"server", "stream", "stream.mqtt", "sources.itunes", "sources.google_play"} <= blocks


@pytest.mark.parametrize(
    "block", sorted({e.key.rsplit(".", 1)[0] for e in reference_entries() if "." in e.key})
)
def test_a_misspelt_key_in_any_block_fails_naming_it(block: str) -> None:
    variable = "TALLY_" + block.upper().replace(".", "__") + "__BUCKETT"
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={variable: "x"})
    message = str(caught.value)
    assert f"{block}.buckett" in message and variable in message and "unknown key" in message


def test_a_misspelt_key_in_the_file_names_its_section(tmp_path: Path) -> None:
    file = tmp_path / "tally.toml"
    file.write_text('[sources.google-play]\nbuckett = "pubsite"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.google_play\.buckett .*known here: .*bucket"):
        load_settings(file, environ={})


def test_a_wrong_type_names_the_key_its_variable_and_the_form() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"TALLY_STREAM__MQTT__QOS": "often"})
    message = str(caught.value)
    assert "stream.mqtt.qos (env TALLY_STREAM__MQTT__QOS)" in message
    assert "expected integer >= 0, <= 2" in message


def test_a_bad_secret_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"TALLY_SOURCES__ITUNES__PRIVATE_KEY": '{"not": "text"}'})
    assert "not" not in str(caught.value).split("got", 1)[1].replace("'********'", "")


def test_secrets_are_masked_at_every_depth() -> None:
    settings = load_settings(
        environ={
            "TALLY_STREAM__MQTT__PASSWORD": "mqtt-pass",
            "TALLY_SOURCES__GOOGLE_PLAY__CREDENTIALS_JSON": '"{}"',
            "TALLY_SOURCES__VIU_CMS__URL": "postgresql://reader:hunter2@db/cms",
            "TALLY_STREAM__RECEIVERS": (
                '[{"name": "ops", "type": "email", "smtp_password": "smtp-pass"}]'
            ),
        }
    )
    masked = repr(settings.masked())
    for secret in ("mqtt-pass", "hunter2", "smtp-pass"):
        assert secret not in masked
    assert settings.masked()["stream"]["mqtt"]["password"] == "********"


def test_the_older_itunes_block_is_read_as_sources_itunes(tmp_path: Path) -> None:
    file = tmp_path / "tally.toml"
    file.write_text('[itunes]\nvendor_number = "111"\nkey_id = "K"\n', encoding="utf-8")
    settings = load_settings(file, environ={"TALLY_SOURCES__ITUNES__VENDOR_NUMBER": "222"})
    assert (settings.sources.itunes.vendor_number, settings.sources.itunes.key_id) == ("222", "K")


def test_test_variables_and_the_config_variable_are_not_settings(tmp_path: Path) -> None:
    file = tmp_path / "tally.toml"
    file.write_text("", encoding="utf-8")
    environ = {"TALLY_CONFIG": str(file), "TALLY_TEST_ANYTHING": "1", "TALLY_REQUIRE_SERVICES": "1"}
    assert load_settings(environ=environ).data_dir == "./tally-data"


def test_loading_settings_imports_no_client_or_driver() -> None:
    """The declaring modules are light: settings load without pyarrow, httpx or a driver."""
    import subprocess
    import sys

    code = (
        "import sys; from tally.config import load_settings; load_settings(environ={}); "
        "print(sorted({'pyarrow', 'httpx', 'duckdb', 'psycopg', 'jwt'} & set(sys.modules)))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


@pytest.mark.parametrize(
    "url", ["duckdb:///w.duckdb", "postgresql://u@h/d", "redshift://u@h:5439/d", "spark://h:7077"]
)
def test_a_misspelt_backend_option_fails_naming_it(url: str) -> None:
    """``[warehouse.options]`` holds the backend's own keys: one it does not declare fails
    when the settings load (``tally config``), not only when the warehouse opens."""
    environ = {"TALLY_WAREHOUSE_URL": url, "TALLY_WAREHOUSE__OPTIONS__BUCKETT": "x"}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    message = str(caught.value)
    assert "warehouse.options.buckett (env TALLY_WAREHOUSE__OPTIONS__BUCKETT)" in message
    assert "unknown key" in message


def test_a_backend_option_of_the_wrong_type_names_the_form() -> None:
    environ = {"TALLY_WAREHOUSE_URL": "spark://h:7077", "TALLY_WAREHOUSE__OPTIONS__CONF": "x"}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    message = str(caught.value)
    assert "warehouse.options.conf (env TALLY_WAREHOUSE__OPTIONS__CONF)" in message
    assert "expected dict[str, str]; got 'x'" in message


def test_the_declared_backend_options_are_the_ones_each_backend_reads() -> None:
    """The models checked at load (tally.warehouse.options) and the backends' own checks
    at connect accept the same keys; DuckDB and PostgreSQL take none."""
    from tally.warehouse.redshift.backend import RedshiftOptions
    from tally.warehouse.registry import ConnectOptions, options_model
    from tally.warehouse.spark.backend import KNOWN_OPTIONS

    def keys(url: str) -> set[str]:
        model = options_model(url)
        assert model is not None
        return set(model.model_fields)

    assert keys("duckdb:///w.duckdb") == keys("postgresql://u@h/d") == set()
    assert keys("spark://h:7077") == KNOWN_OPTIONS
    redshift = keys("redshift://u@h:5439/d")
    RedshiftOptions.read(ConnectOptions(options=dict.fromkeys(redshift, "x")))
    with pytest.raises(ConfigError):
        RedshiftOptions.read(ConnectOptions(options={"buckett": "x"}))
    settings = load_settings(
        environ={"TALLY_WAREHOUSE_URL": "redshift://u@h:5439/d"}
        | {f"TALLY_WAREHOUSE__OPTIONS__{key.upper()}": "x" for key in redshift}
    )
    assert set(settings.warehouse.options) == redshift
