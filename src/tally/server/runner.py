"""Run the app on uvicorn (``tally serve`` and ``python -m tally.server``)."""

from __future__ import annotations

import logging

import uvicorn

from tally.config import Settings
from tally.server.app import create_app


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted; on shutdown the hit log is closed and loaded one last time."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.server.host,
        port=port or settings.server.port,
        # Every hit is already recorded durably; a per-request access log would only cost.
        access_log=False,
        log_level="info",
        lifespan="on",
    )
