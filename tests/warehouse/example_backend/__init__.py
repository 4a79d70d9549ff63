"""An example backend, as a plug-in outside tally: DuckDB under the scheme ``exampledb://``.

Everything a new backend needs is here: a Warehouse class with its Capabilities, a factory
(URL and options → warehouse), a scratch database for the shared test suite, and one
``register`` call. Loaded as a pytest plugin (``pytest -p tests.warehouse.example_backend``)
it runs the whole backend-parametrised suite; test_example_backend.py does exactly that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tally.warehouse.duckdb import CAPABILITIES as DUCKDB
from tally.warehouse.duckdb import DuckDBWarehouse
from tally.warehouse.registry import Backend, ConnectOptions, register

SCHEME = "exampledb"
# the example claims fewer abilities than DuckDB has, so the core's other paths run on it:
# no reading of local files in place, no row ids, no cheap columnar results
CAPABILITIES = dataclasses.replace(
    DUCKDB, reads_local_files=False, row_ids=False, columnar_results=False
)


class ExampleWarehouse(DuckDBWarehouse):
    capabilities = CAPABILITIES

    def __init__(self, url: str, options: ConnectOptions) -> None:
        path = url.removeprefix(f"{SCHEME}://")
        super().__init__(
            f"duckdb://{path}", options.lock_wait_seconds, options.interactive_timeout_seconds
        )
        self.url = url


def open_warehouse(url: str, options: ConnectOptions) -> ExampleWarehouse:
    return ExampleWarehouse(url, options)


@contextmanager
def scratch_url(folder: Path, _service_url: str = "") -> Iterator[str]:
    yield f"{SCHEME}:///{folder}/example.duckdb"


BACKEND = Backend(
    name="exampledb",
    schemes=(SCHEME,),
    factory=open_warehouse,
    example=f"{SCHEME}:///PATH",
    scratch=scratch_url,
)
register(BACKEND)
