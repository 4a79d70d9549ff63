"""Settings: embedded defaults, then an optional ``tally.toml``, then ``TALLY_*`` variables.

One tree, composed at load. This module declares the core keys (data dir, lake, warehouse,
countries, ``web``, ``marts``); every other block is declared by the package that reads it,
as a ``Section`` subclass naming its place in the tree (``section = "sources.itunes"``),
listed in the ``SECTIONS`` of a light module named in ``SECTION_MODULES`` (it imports only
pydantic and ``tally.config``, so loading settings imports no driver). ``settings_model()``
imports those modules by name the first time settings are loaded, as the warehouse registry
imports a backend, and composes one pydantic model from them; ``Settings.section(Model)``
hands a package its own block, typed.

Every key is reached from the environment the same way, its path upper-cased and joined
with a double underscore: ``TALLY_SOURCES__ITUNES__VENDOR_NUMBER=85082573`` sets
``[sources.itunes] vendor_number``; a list or a table is given as JSON. Unknown keys and
wrong types fail naming the key, its variable and the expected form. The file is
``./tally.toml`` unless ``TALLY_CONFIG`` names another; ``TALLY_CONFIG``, ``TALLY_TEST_*``
and ``TALLY_REQUIRE_SERVICES`` are not settings. docs/settings.md is generated from the
models (``python -m tally.config > docs/settings.md``); a test keeps it equal.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tomllib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo

from tally.errors import ConfigError

ENV_PREFIX = "TALLY_"
# variables with the prefix that are not settings: the file's name, and the tests' own
NOT_SETTINGS = ("TALLY_CONFIG", "TALLY_REQUIRE_SERVICES")
NOT_SETTINGS_PREFIXES = ("TALLY_TEST_",)

# the light modules whose ``SECTIONS`` declare the blocks of the tree outside this module
SECTION_MODULES = (
    "tally.sources.settings",
    "tally.stream.settings",
    "tally.server.settings",
)


class Strict(BaseModel):
    """Unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _comma_list(cls, value: Any, info: ValidationInfo) -> Any:
        # a list from a variable: JSON, or text split at commas (a,b,c)
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, str) and field and typing.get_origin(field.annotation) is list:
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class Section(Strict):
    """A block of the settings tree declared by the package that reads it."""

    # where the block sits, dotted: "stream", "server", "sources.google_play"
    section: ClassVar[str] = ""


class SourceSettings(Section):
    """The keys every source shares (``[sources.<name>]``); a source adds its own."""

    source: ClassVar[str] = ""  # the source's name as datasets spell it: "google-play"

    schedule: str = Field(default="", description="cron of the daily fetch; empty: none")
    schedule_timezone: str = Field(default="UTC", description="IANA zone of the schedule")
    lag_days: int = Field(default=1, ge=0, description="the scheduled run fetches today - N")
    deadline_hours: float | dict[str, float] | None = Field(
        default=None,
        description="hours past its day a partition may be late (or dataset -> hours)",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.source and not cls.__dict__.get("section"):
            cls.section = "sources." + cls.source.replace("-", "_")


SectionModel = TypeVar("SectionModel", bound=Section)


class Country(Strict):
    code: str = Field(description="ISO 3166-1 alpha-2 code, e.g. HK")
    name: str
    timezone: str = Field(description="IANA zone of the country's business day")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Hong_Kong)") from error
        return value


class WebSettings(Strict):
    hit_log_dir: str = ""
    segment_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    retention_days: int = Field(default=7, ge=0)
    ip_anonymise_bytes: int = Field(default=2, ge=0, le=4)
    provider_lookup: bool = Field(
        default=True,
        description="name each visit's provider (the network's registered owner)",
    )
    load_interval_seconds: float = Field(default=2.0, gt=0)
    load_batch_records: int = Field(default=10_000, gt=0)
    load_commit_records: int = Field(
        default=100_000,
        gt=0,
        description="records a load commits at once (its batches join one transaction)",
    )
    load_process_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=0,
        description="prepare hits in a second process when a load has this many bytes (0: never)",
    )
    load_share_batches: int = Field(
        default=0,
        ge=0,
        description="while a child process prepares a load, every Nth batch is prepared in "
        "the loading process (0: none)",
    )
    serve_preparer: bool = Field(
        default=False,
        description="tally serve prepares every load's hits in a child process kept from its start",
    )
    salt_days: int = Field(default=2, ge=1)
    sessionize_engine: Literal["sql", "sorted"] = Field(
        default="sorted",
        description="how sessionize places hits: sql (window passes, every backend) or "
        "sorted (one sort and numpy; DuckDB, else sql)",
    )
    report_cache_entries: int = Field(
        default=0, ge=0, description="reports of closed periods kept in memory (0: none)"
    )

    # "" keeps the hit log on local disk (hit_log_dir); NATS URLs publish every hit to a
    # JetStream stream instead (docs/scale-out.md, NATS part)
    hit_log_url: str = Field(
        default="",
        description="nats://host:4222[,nats://host2:4222]: hits go to JetStream",
    )
    hit_stream: str = Field(default="TALLY_HITS", pattern=r"^[A-Za-z0-9_-]+$")
    hit_stream_replicas: int = Field(default=1, ge=1, le=5)
    # a leader election takes ~5 s
    publish_timeout_seconds: float = Field(
        default=15.0, gt=0, description="how long a hit may wait for JetStream's ack"
    )
    serve_loads: bool = Field(
        default=True,
        description="tally serve also loads hits into the warehouse; off on tracking-only nodes",
    )
    load_ack_wait_seconds: float = Field(
        default=60.0,
        ge=1,
        description="a batch a loader took and did not acknowledge goes to another after this",
    )

    @field_validator("hit_log_url")
    @classmethod
    def _nats_servers(cls, value: str) -> str:
        return nats_servers(value)


class MartsSettings(Strict):
    content_window_days: int = Field(
        default=7,
        ge=1,
        le=366,
        description="content window: new subscribers N days from a release vs the N before",
    )
    # the default keeps trials apart as 'Active trial', as RevenueCat's Active Subscriptions
    # and ChartMogul's Subscribers count paid ones only
    trials_in_active: bool = Field(
        default=False, description="count trials in the Active subscriber stock"
    )
    concurrent_subscription: Literal["new", "reactivation"] = Field(
        default="new",
        description="a subscription started while another has access (see docs/metrics.md)",
    )
    reporting_currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="money converted to this currency at the day's rate (docs/metrics.md)",
    )
    attribution_window_days: int = Field(
        default=30,
        ge=1,
        le=366,
        description="campaign attribution looks back this many days from a first start",
    )


def nats_servers(value: str) -> str:
    """Empty, or comma-separated nats:// (or tls://) server URLs."""
    for part in filter(None, (p.strip() for p in value.split(","))):
        if not re.match(r"^(nats|tls)://[^/\s]+$", part):
            raise ValueError(f"{part!r} is not a NATS server URL (nats://host:4222)")
    return value.strip()


class WarehouseSettings(Strict):
    # the server's request threads, the hit loader and the scheduler each borrow their own
    pool_size: int = Field(
        default=8,
        ge=1,
        le=1000,
        description=(
            "connections a server backend (PostgreSQL, Redshift) keeps open; a backfill loads "
            "at most half as many days at once"
        ),
    )
    interactive_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="the longest a dashboard or Reporting API statement may run",
    )
    # read by the backend's folder under tally/warehouse/ (Redshift: iam_role or
    # access_key_id/secret_access_key, staging_url, region), declared in warehouse/options.py
    options: dict[str, Any] = Field(
        default_factory=dict, description="the backend's own keys: below, per backend"
    )


class Settings(Strict):
    """The whole tree. ``Settings(...)`` and ``load_settings()`` give the composed model
    (``settings_model()``), with every declared block."""

    data_dir: str = "./tally-data"
    lake_url: str = Field(default="", description="file path, file:// or s3://bucket/prefix")
    warehouse_url: str = Field(
        default="", description="duckdb:///path, postgresql://... or redshift://..."
    )
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    lock_wait_seconds: float = Field(default=60.0, gt=0)
    quarantine_threshold: float = Field(default=0.05, ge=0, le=1)
    countries: list[Country] = Field(
        default_factory=lambda: [
            Country(code="HK", name="Hong Kong", timezone="Asia/Hong_Kong"),
            Country(code="SG", name="Singapore", timezone="Asia/Singapore"),
        ]
    )
    web: WebSettings = Field(default_factory=WebSettings)
    marts: MartsSettings = Field(default_factory=MartsSettings)
    s3_endpoint_url: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Settings:
        # Settings(...) builds the composed model, so no caller can get a tree without
        # the declared blocks
        return super().__new__(settings_model() if cls is Settings else cls)

    @field_validator("warehouse_url")
    @classmethod
    def _known_warehouse(cls, value: str) -> str:
        # the registry of backends is the one place that knows the schemes; it imports
        # nothing of tally but its errors, so reading it here keeps config the lowest layer
        from tally.warehouse.registry import backend_for

        if value:
            try:
                backend_for(value)
            except ConfigError as error:
                raise ValueError(str(error)) from None
        return value

    def model_post_init(self, _context: Any) -> None:
        data = self.data_dir.rstrip("/")
        if not self.lake_url:
            self.lake_url = f"{data}/lake"
        if not self.warehouse_url:
            self.warehouse_url = f"duckdb:///{data}/warehouse.duckdb"
        from tally.warehouse.registry import check_options

        check_options(self.warehouse_url, self.warehouse.options)  # the backend's own keys
        if not self.web.hit_log_dir:
            self.web.hit_log_dir = f"{data}/hitlog"

    def section(self, model: type[SectionModel]) -> SectionModel:
        """The block a package declared, typed: ``settings.section(StreamSettings)``."""
        node: Any = self
        for part in model.section.split("."):
            node = getattr(node, part, None)
        if not isinstance(node, model):
            raise ConfigError(f"settings have no [{model.section}] block of {model.__name__}")
        return node

    def configure(self, place: str, values: dict[str, Any]) -> None:
        """Set keys of one block, validated: ``settings.configure("sources.viu-cms", {...})``
        (the block's other keys stay as they are)."""
        *parents, last = place.replace("-", "_").split(".")
        node: Any = self
        for part in parents:
            node = getattr(node, part)
        current = getattr(node, last)
        model = type(current)
        try:
            setattr(node, last, model.model_validate({**dict(current), **values}))
        except ValidationError as error:
            raise ConfigError(_describe(error, Path(place), model, parents + [last])) from None

    def source_sections(self) -> dict[str, SourceSettings]:
        """Every source's block by source name (``google-play``)."""
        found: dict[str, SourceSettings] = {}
        for model in declared_sections().values():
            if issubclass(model, SourceSettings) and model.source:
                found[model.source] = self.section(model)
        return found

    def country(self, code: str) -> Country:
        for country in self.countries:
            if country.code.upper() == code.upper():
                return country
        known = ", ".join(c.code for c in self.countries)
        raise ConfigError(f"country {code!r} is not configured (configured: {known})")

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, every secret shown as '********'."""
        masked: dict[str, Any] = _mask(self.model_dump(mode="python"))
        return masked


# ---- composition -------------------------------------------------------------------------

_registered: dict[str, type[Section]] = {}


def register_section(model: type[Section]) -> None:
    """Add a block at run time (a plug-in, a test); the next load composes it in."""
    if not model.section:
        raise ConfigError(f"{model.__name__} names no section")
    _registered[model.section] = model
    settings_model.cache_clear()


def declared_sections() -> dict[str, type[Section]]:
    """Every declared block by its dotted place, imported from ``SECTION_MODULES``."""
    found: dict[str, type[Section]] = {}
    for name in SECTION_MODULES:
        for model in importlib.import_module(name).SECTIONS:
            found[model.section] = model
    return found | _registered


@cache
def settings_model() -> type[Settings]:
    """``Settings`` with every declared block, built once (again after a registration)."""
    tree: dict[str, Any] = {}
    for place, model in sorted(declared_sections().items()):
        *parents, last = place.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = model
    fields: dict[str, Any] = {name: _field(name, value) for name, value in tree.items()}
    return create_model("Settings", __base__=Settings, __module__=__name__, **fields)


def _field(name: str, value: type[Section] | dict[str, Any]) -> tuple[type[BaseModel], Any]:
    if isinstance(value, dict):
        inner: dict[str, Any] = {key: _field(key, child) for key, child in value.items()}
        model: type[BaseModel] = create_model(
            f"{name.title()}Settings", __base__=Strict, __module__=__name__, **inner
        )
    else:
        model = value
    return model, Field(default_factory=model)


# ---- masking -----------------------------------------------------------------------------


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, dict):
        return {k: _mask_named(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


SECRET_WORDS = ("password", "secret", "token", "private_key", "credentials")


# the password of a URL (postgresql://user:PASSWORD@host/db)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")


def _mask_named(key: str, value: Any) -> Any:
    if value and isinstance(value, str) and any(w in key.lower() for w in SECRET_WORDS):
        if not key.lower().endswith("_path"):
            return "********"
    if isinstance(value, str) and "://" in value:
        return _URL_PASSWORD.sub(r"\1********\3", value)
    return _mask(value)


# ---- loading -----------------------------------------------------------------------------


def is_setting_variable(name: str) -> bool:
    return (
        name.startswith(ENV_PREFIX)
        and name not in NOT_SETTINGS
        and not name.startswith(NOT_SETTINGS_PREFIXES)
    )


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not is_setting_variable(name):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _env_value(raw)
    return tree


def _env_value(raw: str) -> Any:
    """A list or a table arrives as JSON; anything else as the text itself."""
    if raw.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """One spelling per key: ``[sources.google-play]`` is ``sources.google_play`` (as its
    variable must be), the underscored one winning key by key; the older top-level
    ``[itunes]`` block is ``[sources.itunes]``."""
    sources = data.get("sources")
    legacy = data.pop("itunes", None)
    if not isinstance(sources, dict):
        if legacy is None:
            return data
        sources = {}
    merged: dict[str, Any] = {}
    for name in sorted(sources, key=lambda n: "_" in n):  # hyphenated first, then the rest
        key = name.replace("-", "_")
        value = sources[name]
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both else value
    if isinstance(legacy, dict):
        merged["itunes"] = _merge(legacy, merged.get("itunes") or {})
    return {**data, "sources": merged}


def load_settings(
    path: str | Path | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Read defaults, the TOML file and the environment; raise ConfigError naming a bad key."""
    environ = dict(os.environ) if environ is None else environ
    file = Path(path or environ.get("TALLY_CONFIG") or "tally.toml")
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{file}: not valid TOML: {error}") from error
    elif path is not None or "TALLY_CONFIG" in environ:
        raise ConfigError(f"config file {file} does not exist")
    data = _merge(_normalise(data), _normalise(_env_overrides(environ)))
    model = settings_model()
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error, file, model)) from None


def _describe(
    error: ValidationError, file: Path, model: type[BaseModel], prefix: list[str] | None = None
) -> str:
    lines = [f"invalid settings (from {file} and TALLY_* variables):"]
    for problem in error.errors():
        inner = [str(p) for p in problem["loc"]]
        loc = [*(prefix or []), *inner]
        key = ".".join(loc)
        env = ENV_PREFIX + "__".join(loc).upper()
        parent, field = _field_at(model, inner)
        if problem["type"] == "extra_forbidden":
            known = ", ".join(parent.model_fields) if parent is not None else ""
            lines.append(f"  {key} (env {env}): unknown key; known here: {known}")
            continue
        shown = problem.get("input")
        if field is not None and (_is_secret(field.annotation) or _secret_name(loc[-1])):
            shown = "********"
        expected = f"; expected {_form(field)}" if field is not None else ""
        lines.append(f"  {key} (env {env}): {problem['msg']}{expected}; got {shown!r}")
    return "\n".join(lines)


def _field_at(
    model: type[BaseModel], loc: list[str]
) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model holding the last key of ``loc`` and that key's field, where both exist."""
    current: type[BaseModel] | None = model
    for index, part in enumerate(loc):
        if current is None:
            return None, None
        info = current.model_fields.get(part)
        if index == len(loc) - 1:
            return current, info
        if info is None:
            return None, None
        current = _model_in(info.annotation)
    return None, None


def _secret_name(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_WORDS) and not key.endswith("_path")


# ---- the reference (docs/settings.md) ----------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One key of the reference."""

    key: str
    variable: str
    form: str
    default: str
    description: str


def reference_entries() -> list[Entry]:
    """Every leaf key of the composed tree, in declaration order."""
    model = settings_model()
    return list(_entries(model, [], model()))


def backend_option_entries() -> list[tuple[str, str, Entry]]:
    """(backend, an example URL of it, entry) for each key of each registered backend's
    ``[warehouse.options]`` model: keys the tree holds as one table, checked at load
    against the URL's backend."""
    from tally.warehouse.registry import backends, options_model

    found = []
    for backend in backends():
        model = options_model(backend.example)
        if model is not None:
            for entry in _entries(model, ["warehouse", "options"], model()):
                found.append((backend.name, backend.example, entry))
    return found


def _entries(model: type[BaseModel], path: list[str], value: Any) -> Iterator[Entry]:
    for name, info in model.model_fields.items():
        inner = _model_in(info.annotation)
        current = getattr(value, name)
        if inner is not None and isinstance(current, BaseModel):
            yield from _entries(inner, [*path, name], current)
            continue
        yield Entry(
            key=".".join([*path, name]),
            variable=ENV_PREFIX + "__".join([*path, name]).upper(),
            form=_form(info),
            default=_shown_default(current),
            description=info.description or "",
        )


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds directly (not in a list or a table), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(arg) for arg in typing.get_args(annotation))


def _form(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("form"), str):
        return str(extra["form"])
    form = _type_form(info.annotation)
    patterns = [getattr(item, "pattern", None) for item in info.metadata]
    form += "".join(f" matching {pattern}" for pattern in patterns if pattern)
    bounds = [
        f"{sign} {getattr(item, attribute)}"
        for item in info.metadata
        for attribute, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if getattr(item, attribute, None) is not None
    ]
    return f"{form} {', '.join(bounds)}" if bounds else form


def _type_form(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is SecretStr:
        return "secret text"
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if annotation is str:
        return "text"
    if origin is Literal:
        return "one of " + ", ".join(str(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_form(arg) for arg in args if arg is not type(None)]
        return " or ".join(parts) + (", or empty" if type(None) in args else "")
    if origin is list:
        return f"JSON list (or a,b,c) of {_type_form(args[0])}" if args else "JSON list"
    if origin is dict:
        return f"JSON table of {_type_form(args[1])}" if args else "JSON table"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "{" + ", ".join(annotation.model_fields) + "}"
    return "value"


def _shown_default(value: Any) -> str:
    if isinstance(value, SecretStr) or value is None:
        return ""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [item.model_dump(mode="json") for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def settings_reference() -> str:
    """docs/settings.md: every key, its variable, the form it takes and its default."""
    lines = [
        "# Settings reference",
        "",
        "Generated from the settings models (`python -m tally.config > docs/settings.md`);",
        "`tests/test_config_reference.py` keeps it equal. Each key is set in `tally.toml`",
        "(`[section] key = value`) or by its variable; the variable wins. A list or a table",
        "is given to a variable as JSON. Secrets are never printed (`tally config` masks",
        "them).",
        "",
    ]
    groups: dict[str, list[Entry]] = {}
    for entry in reference_entries():
        parent = entry.key.rsplit(".", 1)[0] if "." in entry.key else "top level"
        groups.setdefault(parent, []).append(entry)
    for parent, entries in groups.items():
        lines += ["", f"## {parent}", "", "| key | variable | form | default | meaning |"]
        lines.append("| --- | --- | --- | --- | --- |")
        lines += [_row(entry) for entry in entries]
    by_backend: dict[tuple[str, str], list[Entry]] = {}
    for backend, example, entry in backend_option_entries():
        by_backend.setdefault((backend, example), []).append(entry)
    for (backend, example), entries in by_backend.items():
        lines += [
            "",
            f"## warehouse.options of the {backend} backend",
            "",
            f"Taken with a warehouse URL of this backend (`{example}`); another refuses them.",
            "",
            "| key | variable | form | default | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_row(entry) for entry in entries]
    return "\n".join(lines) + "\n"


def _row(entry: Entry) -> str:
    cells = [
        f"`{entry.key}`",
        f"`{entry.variable}`",
        entry.form,
        f"`{entry.default}`" if entry.default else "",
        entry.description,
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


if __name__ == "__main__":  # python -m tally.config: the reference from the imported module
    from tally.config import settings_reference as reference

    sys.stdout.write(reference())
