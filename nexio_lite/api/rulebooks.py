"""`GET /api/v1/rulebooks` (SCREEN.md §2): the current version of each of the
organization's screening rule books."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nexio_lite.api.context import authorize, services
from nexio_lite.api.responses import json_response
from nexio_lite.models import RulebookVersion


def rulebook_summary(book: RulebookVersion) -> dict[str, Any]:
    """One entry of the listing, keys in the order of SCREEN.md §2."""
    return {
        "rulebook": book.rulebook_id,
        "version": book.version,
        "rules": book.rules,
        "regulations": book.regulations,
        "sha256": book.sha256,
    }


async def list_rulebooks(request: web.Request) -> web.Response:
    svc = services(request)
    key = await authorize(request, "jobs:read")
    books = await svc.store.list_rulebooks(key.org_id)
    return json_response({"data": [rulebook_summary(b) for b in books]})
