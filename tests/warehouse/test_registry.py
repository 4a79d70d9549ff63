"""One table from URL scheme to backend, read by both the settings and connect()."""

import pytest

from tally.config import load_settings
from tally.errors import ConfigError
from tally.warehouse import connect, registry


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("duckdb:///./tally-data/warehouse.duckdb", "duckdb"),
        ("postgresql://tally@db.internal/tally", "postgres"),
        ("postgres://tally@db.internal/tally", "postgres"),
        ("postgresql+redshift://tally@x.eu-west-1.redshift.amazonaws.com:5439/dev", "redshift"),
        ("redshift://tally@x.eu-west-1.redshift.amazonaws.com:5439/dev", "redshift"),
    ],
)
def test_each_scheme_names_its_backend_and_the_settings_accept_it(url, backend):
    assert registry.backend_for(url).name == backend
    assert load_settings(environ={"TALLY_WAREHOUSE_URL": url}).warehouse_url == url


def test_an_unknown_scheme_is_refused_with_every_registered_one_listed():
    with pytest.raises(ConfigError) as refused:
        connect("mysql://db/tally")
    message = str(refused.value)
    assert "mysql://" in message
    assert all(f"{scheme}://" in message for scheme in registry.schemes())
    with pytest.raises(ConfigError) as by_settings:
        load_settings(environ={"TALLY_WAREHOUSE_URL": "mysql://db/tally"})
    assert "warehouse_url" in str(by_settings.value) and "redshift://" in str(by_settings.value)


def test_a_scheme_cannot_belong_to_two_backends():
    taken = registry.Backend("other", ("duckdb",), "x:y", "duckdb:///PATH")
    with pytest.raises(ConfigError, match="already belongs to backend 'duckdb'"):
        registry.register(taken)


def test_checking_a_url_imports_no_driver():
    """The settings validate a URL by its scheme alone: the registry names its factory as a
    dotted path, imported only when the warehouse is opened."""
    import subprocess
    import sys

    probe = (
        "import sys; from tally.config import load_settings; "
        "load_settings(environ={'TALLY_WAREHOUSE_URL': 'redshift://u@h:5439/d'}); "
        "print(sorted(m for m in ('duckdb', 'psycopg', 'psycopg_pool') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_password_of_a_warehouse_url_is_masked():
    url = "redshift://tally:s3cret-pw@x.eu-west-1.redshift.amazonaws.com:5439/dev"
    masked = load_settings(environ={"TALLY_WAREHOUSE_URL": url}).masked()
    assert masked["warehouse_url"] == (
        "redshift://tally:********@x.eu-west-1.redshift.amazonaws.com:5439/dev"
    )
    assert "s3cret-pw" not in repr(masked)
