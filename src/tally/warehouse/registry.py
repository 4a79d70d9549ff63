"""Which backend a warehouse URL names: the one table from URL scheme to backend.

Each backend is registered once, by name, with its URL schemes and the dotted path of its
factory (``"tally.warehouse.duckdb:open_warehouse"``); the module is imported only when a
URL of that scheme is opened, so checking a setting never imports a driver. ``register``
adds a backend at run time: an extension package, or a test's example backend.

This module imports nothing of tally but ``tally.errors``: ``tally.config`` reads it to
validate ``warehouse_url`` (the layer test allows that one import and checks this rule).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tally.errors import ConfigError


@dataclass(frozen=True)
class ConnectOptions:
    """What ``connect`` hands every factory, from the settings (defaults for a bare URL)."""

    lock_wait_seconds: float = 60.0
    pool_size: int = 8  # connections a server backend keeps open for concurrent callers
    interactive_timeout_seconds: float = 30.0  # ``Warehouse.interactive()``'s default
    options: Mapping[str, Any] = field(default_factory=dict)  # the backend's own settings
    lake_url: str = ""  # where a backend that loads from object storage stages its files
    s3_endpoint_url: str = ""


# factory(url, options) -> Warehouse; scratch(folder, service_url) -> URL of an empty database
Factory = Callable[[str, ConnectOptions], Any]
Scratch = Callable[[Path, str], AbstractContextManager[str]]


@dataclass(frozen=True)
class Backend:
    """One registered backend."""

    name: str  # the registry's key and the test id, never read by the core to branch on
    schemes: tuple[str, ...]  # URL schemes it answers, e.g. ("postgresql", "postgres")
    factory: str | Factory  # "package.module:function", or the function itself
    example: str  # a URL shown when a URL is refused, e.g. "duckdb:///PATH"
    # "package.module:function" giving a throwaway empty database's URL for the shared
    # test suite (None: no server to test against here, e.g. Redshift)
    scratch: str | Scratch | None = None
    service: str | None = None  # the test service scratch needs ("postgres"), if any
    # the pydantic model of ``[warehouse.options]`` for this backend ("module:Class" in
    # tally.warehouse.options, or the class), checked when the settings load; None: not
    # declared, the backend checks them itself
    options: str | type[Any] | None = None

    def open(self, url: str, options: ConnectOptions) -> Any:
        return _resolve(self.factory)(url, options)

    def scratch_url(self, folder: Path, service_url: str = "") -> AbstractContextManager[str]:
        if self.scratch is None:
            raise ConfigError(f"backend {self.name!r} has no scratch databases")
        scratch: AbstractContextManager[str] = _resolve(self.scratch)(folder, service_url)
        return scratch


_BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> None:
    """Add (or replace) a backend; its schemes must not belong to another one."""
    for other in _BACKENDS.values():
        taken = set(other.schemes) & set(backend.schemes)
        if taken and other.name != backend.name:
            raise ConfigError(f"scheme {sorted(taken)} already belongs to backend {other.name!r}")
    _BACKENDS[backend.name] = backend


def unregister(name: str) -> None:
    _BACKENDS.pop(name, None)


def backends() -> list[Backend]:
    """Every registered backend, in registration order."""
    return list(_BACKENDS.values())


def schemes() -> list[str]:
    return [scheme for backend in _BACKENDS.values() for scheme in backend.schemes]


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def backend_for(url: str) -> Backend:
    """The backend a URL's scheme names; ConfigError listing the known schemes otherwise."""
    scheme = scheme_of(url)
    for backend in _BACKENDS.values():
        if scheme in backend.schemes:
            return backend
    known = ", ".join(f"{s}://" for s in schemes())
    examples = "; ".join(backend.example for backend in _BACKENDS.values())
    shown = f"{scheme}://" if scheme else "no scheme"
    raise ConfigError(
        f"warehouse URL with {shown}: registered schemes are {known} (e.g. {examples})"
    )


def options_model(url: str) -> type[Any] | None:
    """The pydantic model of the URL's backend's ``[warehouse.options]`` (None: undeclared)."""
    declared = backend_for(url).options
    if isinstance(declared, str):
        module, _, attribute = declared.partition(":")
        model: type[Any] = getattr(importlib.import_module(module), attribute)
        return model
    return declared


def check_options(url: str, options: Mapping[str, Any]) -> None:
    """ConfigError naming each key of ``[warehouse.options]`` the URL's backend does not
    take, or whose value is of the wrong type, with its environment variable and what is
    expected."""
    model = options_model(url)
    if model is None:
        return
    from pydantic import ValidationError

    try:
        model.model_validate(dict(options))
    except ValidationError as error:
        known = ", ".join(model.model_fields) or "none (this backend takes no options)"
        lines = [f"invalid settings: warehouse.options of the {backend_for(url).name} backend:"]
        for problem in error.errors():
            path = [str(part) for part in problem["loc"]]
            key = ".".join(["warehouse", "options", *path])
            env = "TALLY_WAREHOUSE__OPTIONS__" + "__".join(path).upper()
            if problem["type"] == "extra_forbidden" and len(path) == 1:
                lines.append(f"  {key} (env {env}): unknown key; known here: {known}")
                continue
            field = model.model_fields.get(path[0])
            form = field.annotation if field is not None else None
            expected = form.__name__ if isinstance(form, type) else str(form)
            secret = "secret" in key or "password" in key
            shown = "********" if secret else repr(problem.get("input"))
            lines.append(f"  {key} (env {env}): {problem['msg']}; expected {expected}; got {shown}")
        raise ConfigError("\n".join(lines)) from None


def _resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    resolved: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    return resolved


# The built-in backends (each a folder under tally/warehouse/).
register(
    Backend(
        name="duckdb",
        schemes=("duckdb",),
        factory="tally.warehouse.duckdb:open_warehouse",
        example="duckdb:///PATH",
        scratch="tally.warehouse.duckdb:scratch_url",
        options="tally.warehouse.options:NoOptions",
    )
)
register(
    Backend(
        name="postgres",
        schemes=("postgresql", "postgres"),
        factory="tally.warehouse.postgres:open_warehouse",
        example="postgresql://USER@HOST/DB",
        scratch="tally.warehouse.postgres:scratch_url",
        service="postgres",
        options="tally.warehouse.options:NoOptions",
    )
)
register(
    Backend(
        name="redshift",
        schemes=("postgresql+redshift", "redshift"),
        factory="tally.warehouse.redshift:open_warehouse",
        example="redshift://USER@CLUSTER.REGION.redshift.amazonaws.com:5439/DB",
        options="tally.warehouse.options:Redshift",
    )
)
register(
    Backend(
        name="spark",
        schemes=("spark",),
        factory="tally.warehouse.spark:open_warehouse",
        example="spark://MASTER:7077",
        options="tally.warehouse.options:Spark",
        # no scratch here: the shared suite runs on Spark only with a cluster, which the
        # plugin tests/warehouse/spark_cluster starts (make test-spark)
    )
)
