"""``[server]``: the ASGI server's block of the settings tree (see ``tally.config``).

Light on purpose: it imports only pydantic and ``tally.config``, because loading settings
imports it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, SecretStr, field_validator

from tally.config import Section, nats_servers


class ServerSettings(Section):
    section = "server"

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    secret_key: SecretStr | None = Field(
        default=None, description="signs login sessions; default: a key kept in the data dir"
    )
    scheduler: bool = Field(
        default=False, description="run the daily-job scheduler inside tally serve"
    )
    scheduler_poll_seconds: float = Field(default=60.0, gt=0)
    # several schedulers may run; one leads by a lease in JetStream key-value
    scheduler_lease_url: str = Field(
        default="", description="nats://…: the scheduler's leadership lease (scale-out.md)"
    )
    scheduler_lease_seconds: float = Field(default=15.0, ge=3)
    # none by default, so no client can claim an address
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="reverse proxies (addresses or CIDR) whose X-Forwarded-* are believed",
        json_schema_extra={"form": "JSON list, or comma-separated addresses or networks"},
    )
    # tracking and login never queue behind the Reporting API's own threads
    report_workers: int = Field(
        default=2, ge=1, le=64, description="worker threads of the Reporting API"
    )
    report_timeout_seconds: float = Field(
        default=30.0, gt=0, description="a Reporting API call past this answers 503"
    )

    def scheduler_lease(self) -> tuple[str, float] | None:
        """(url, seconds) of the schedulers' leadership lease, or None (no lease)."""
        if not self.scheduler_lease_url:
            return None
        return self.scheduler_lease_url, self.scheduler_lease_seconds

    @field_validator("scheduler_lease_url")
    @classmethod
    def _nats_servers(cls, value: str) -> str:
        return nats_servers(value)

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


SECTIONS = [ServerSettings]
