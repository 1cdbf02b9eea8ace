"""The web console at `/ui/` (API.md §10): server-rendered pages for people, signed in
with an API key (see docs/console.md). `setup(app)` adds its routes to the service."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the console's routes, templates and static files to `app`."""
    from nexio_lite.console.routes import add_routes

    add_routes(app)
