"""Run the app on uvicorn (``tally serve`` and ``python -m tally.server``).

Files the server creates are private to its user (umask 077: files 0600, directories
0700), and the data directory and warehouse file are narrowed to that at start when an
older install left them readable by others (they hold password and token hashes).
``X-Forwarded-For``/``-Proto`` are believed only from ``[server] trusted_proxies``.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from tally.config import Settings
from tally.server.app import TallyApp, create_app
from tally.server.settings import ServerSettings
from tally.server.tracking_protocol import tracking_protocol


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted; on shutdown the hit log is closed and loaded one last time."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    private_files()
    narrow_data_permissions(settings)
    app = create_app(settings)
    server = settings.section(ServerSettings)
    config = server_config(
        app,
        settings,
        host=host or server.host,
        port=port or server.port,
        log_level="info",
        # open requests get this long to finish once a stop is asked
        timeout_graceful_shutdown=5,
    )
    StoppingServer(config, app.state.reports.stop_all).run()


def server_config(app: TallyApp, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for tally's app (``serve``; benchmarks/tracking_bench.py runs the
    app with these too): plain page views answered by ``tracking_protocol``, below ASGI."""
    defaults: dict[str, Any] = {
        "http": tracking_protocol(app.tracking),
        # Every hit is already recorded durably; a per-request access log would only cost.
        "access_log": False,
        "lifespan": "on",
        **proxy_options(settings),
    }
    return uvicorn.Config(app, **{**defaults, **options})


class StoppingServer(uvicorn.Server):
    """uvicorn, except that a stop (SIGTERM, Ctrl-C) first interrupts the running reports:
    uvicorn waits for open requests before the app's shutdown runs, and a report may hold
    one for as long as its time limit."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_stop = on_stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.on_stop()


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header options: off unless proxies are listed in settings.

    uvicorn trusts 127.0.0.1 by default, so anything on the machine (or a proxy that passes
    a client's header through) could claim any client address, and with it reset a
    per-address login count or pose as another visitor's IP.
    """
    proxies = settings.section(ServerSettings).trusted_proxies
    if not proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(proxies)}


def private_files() -> None:
    """New files 0600 and directories 0700 for the rest of the process."""
    os.umask(0o077)


def narrow_data_permissions(settings: Settings) -> list[Path]:
    """Take group and other access off the data directory and the DuckDB warehouse files.

    Returns what was changed (an install made before files were private).
    """
    changed = []
    data = Path(settings.data_dir)
    candidates = [data]
    if settings.warehouse_url.startswith("duckdb:///"):
        warehouse = Path(settings.warehouse_url.removeprefix("duckdb:///"))
        candidates += [warehouse, warehouse.with_name(warehouse.name + ".wal")]
    for path in candidates:
        if not path.exists() or path.is_symlink() or path.stat().st_uid != os.geteuid():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)
            changed.append(path)
    if changed:
        logging.getLogger(__name__).warning(
            "made private (were readable by others): %s", ", ".join(map(str, changed))
        )
    return changed
