"""Settings: embedded defaults, then an optional ``tally.toml``, then ``TALLY_*`` variables.

Nested keys are joined with a double underscore in the environment:
``TALLY_SOURCES__ITUNES__VENDOR_NUMBER=85082573`` sets ``[sources.itunes] vendor_number``.
The file is ``./tally.toml`` unless ``TALLY_CONFIG`` names another.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tally.errors import ConfigError

ENV_PREFIX = "TALLY_"


class Strict(BaseModel):
    """Unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


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


class ItunesSettings(Strict):
    api_url: str = "https://api.appstoreconnect.apple.com"
    vendor_number: str = "85082573"
    issuer_id: str = ""
    key_id: str = ""
    private_key: SecretStr | None = Field(default=None, description="PEM text of the .p8 key")
    private_key_path: str = ""
    report_version: str = "1_4"
    schedule: str = "0 9 * * *"
    schedule_timezone: str = "America/Los_Angeles"


class WebSettings(Strict):
    hit_log_dir: str = ""
    segment_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    retention_days: int = Field(default=7, ge=0)
    ip_anonymise_bytes: int = Field(default=2, ge=0, le=4)
    # name each visit's provider (the network's registered owner) from the bundled data
    provider_lookup: bool = True
    load_interval_seconds: float = Field(default=2.0, gt=0)
    load_batch_records: int = Field(default=10_000, gt=0)
    salt_days: int = Field(default=2, ge=1)
    # reports of closed periods the server keeps in memory (0: none); see reporting-api.md
    report_cache_entries: int = Field(default=0, ge=0)
    # "" keeps the hit log on local disk (hit_log_dir); "nats://host:4222[,nats://host2:4222]"
    # publishes every hit to a JetStream stream instead (docs/scale-out.md, NATS part)
    hit_log_url: str = ""
    hit_stream: str = Field(default="TALLY_HITS", pattern=r"^[A-Za-z0-9_-]+$")
    hit_stream_replicas: int = Field(default=1, ge=1, le=5)
    # how long a hit may wait for JetStream's acknowledgement (a leader election takes ~5 s)
    publish_timeout_seconds: float = Field(default=15.0, gt=0)
    # tally serve also loads hits into the warehouse; off on tracking-only nodes
    serve_loads: bool = True
    # a hit a loader took from the stream and did not acknowledge (it died) goes to another
    # loader after this long
    load_ack_wait_seconds: float = Field(default=60.0, ge=1)

    @field_validator("hit_log_url")
    @classmethod
    def _nats_servers(cls, value: str) -> str:
        return _nats_url(value)


class MartsSettings(Strict):
    # the content-window report compares new subscribers in the N days from a release with
    # the N days before it
    content_window_days: int = Field(default=7, ge=1, le=366)
    # trials in the Active subscriber stock, or apart as 'Active trial' (the default, as
    # RevenueCat's Active Subscriptions and ChartMogul's Subscribers count paid ones only)
    trials_in_active: bool = False
    # a subscription started while another of the user's has access: a new subscription
    # ('new', the default) or a Reactivation; see docs/metrics.md
    concurrent_subscription: Literal["new", "reactivation"] = "new"
    # money is shown in its own currency and converted to this one at the day's rate (the
    # exchange-rate sheet); see docs/metrics.md, "Currencies"
    reporting_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    # campaign attribution looks this many days back from a subscription's first start
    attribution_window_days: int = Field(default=30, ge=1, le=366)


def _nats_url(value: str) -> str:
    """Empty, or comma-separated nats:// (or tls://) server URLs."""
    for part in filter(None, (p.strip() for p in value.split(","))):
        if not re.match(r"^(nats|tls)://[^/\s]+$", part):
            raise ValueError(f"{part!r} is not a NATS server URL (nats://host:4222)")
    return value.strip()


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    secret_key: SecretStr | None = None
    # run the daily-job scheduler (tally scheduler) inside tally serve
    scheduler: bool = False
    scheduler_poll_seconds: float = Field(default=60.0, gt=0)
    # "nats://…": several schedulers may run, one leads by a lease in JetStream key-value
    scheduler_lease_url: str = ""
    scheduler_lease_seconds: float = Field(default=15.0, ge=3)

    @field_validator("scheduler_lease_url")
    @classmethod
    def _nats_servers(cls, value: str) -> str:
        return _nats_url(value)

    # addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; none by default, so no client can claim an address
    trusted_proxies: list[str] = Field(default_factory=list)
    # Reporting API: worker threads of its own (tracking and login never queue behind them),
    # and how long one call may run before its query is interrupted (answer 503)
    report_workers: int = Field(default=2, ge=1, le=64)
    report_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # from the environment: TALLY_SERVER__TRUSTED_PROXIES=10.0.0.1,10.1.0.0/16
        return (
            [part.strip() for part in value.split(",") if part.strip()]
            if isinstance(value, str)
            else value
        )

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address or network (CIDR)") from None
        return values


class WarehouseSettings(Strict):
    # connections a server backend (PostgreSQL, Redshift) keeps for concurrent callers: the
    # server's request threads, the hit loader and the scheduler each borrow their own
    pool_size: int = Field(default=8, ge=1, le=1000)
    # the longest a dashboard or Reporting API statement may run (Warehouse.interactive())
    interactive_timeout_seconds: float = Field(default=30.0, gt=0)
    # the backend's own settings, read by its folder under tally/warehouse/ (Redshift:
    # iam_role or access_key_id/secret_access_key, staging_url, region); see scale-out.md
    options: dict[str, Any] = Field(default_factory=dict)


class Settings(Strict):
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
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    itunes: ItunesSettings = Field(default_factory=ItunesSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    marts: MartsSettings = Field(default_factory=MartsSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    stream: dict[str, Any] = Field(default_factory=dict)  # parsed by tally.stream.settings
    s3_endpoint_url: str = ""

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
        if not self.web.hit_log_dir:
            self.web.hit_log_dir = f"{data}/hitlog"

    def country(self, code: str) -> Country:
        for country in self.countries:
            if country.code.upper() == code.upper():
                return country
        known = ", ".join(c.code for c in self.countries)
        raise ConfigError(f"country {code!r} is not configured (configured: {known})")

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, every secret shown as '********'."""
        return _mask(self.model_dump(mode="python"))


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


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if (
            not name.startswith(ENV_PREFIX)
            or name in ("TALLY_CONFIG",)
            or name.startswith("TALLY_TEST_")
            or name == "TALLY_REQUIRE_SERVICES"
        ):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = raw
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


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
    data = _merge(data, _env_overrides(environ))
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error, file)) from None


def _describe(error: ValidationError, file: Path) -> str:
    lines = [f"invalid settings (from {file} and TALLY_* variables):"]
    for problem in error.errors():
        key = ".".join(str(p) for p in problem["loc"])
        env = ENV_PREFIX + "__".join(str(p) for p in problem["loc"]).upper()
        lines.append(f"  {key} (env {env}): {problem['msg']}; got {problem.get('input')!r}")
    return "\n".join(lines)
