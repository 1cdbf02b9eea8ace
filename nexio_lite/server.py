"""`nexio-lite serve`: run the application until SIGTERM or SIGINT, then drain."""

from __future__ import annotations

from aiohttp import web

from nexio_lite import logs
from nexio_lite.app import create_app
from nexio_lite.config import Settings

log = logs.get_logger("nexio_lite.server")


def serve(settings: Settings) -> None:
    """Blocks until a signal. aiohttp stops accepting connections and lets requests in
    flight finish; then the app's cleanup drains the workers and closes the store."""
    logs.configure(settings.log.level, settings.log.format)
    app = create_app(settings)
    host, port = settings.server.host, settings.server.port
    log.info("listening", url=f"http://{host}:{port}", public_url=settings.base_url)
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
        access_log=None,
        shutdown_timeout=settings.server.shutdown_grace_seconds,
    )
