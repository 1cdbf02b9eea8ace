"""A real app on a real SQLite file, with an organization, keys and the demo pool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nexio_lite.admin import Admin
from nexio_lite.app import create_app
from nexio_lite.config import Settings, load_settings
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.verticals.carriers.pool import DEMO_AS_OF, GENERATOR, generate_pool

from .receiver import Receiver

SEED_BODY: dict[str, Any] = {
    "profile": {"entity": "acme-manufacturing", "state": "CA",
                "line": "professional_liability", "revenue": 12000000},
    "pool": "carriers:all",
}  # fmt: skip


@pytest.fixture(scope="session")
def demo_carriers() -> list[Any]:
    return generate_pool()


@attrs.define
class World:
    """What a test needs to talk to the app: its client and keys per scope."""

    client: TestClient
    settings: Settings
    keys: dict[str, str]
    other_org_key: str

    def headers(self, who: str = "full", **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[who], **extra}

    async def submit(self, body: Any = None, who: str = "full", **kw: Any) -> Any:
        return await self.client.post(
            "/api/v1/jobs",
            json=SEED_BODY if body is None else body,
            headers=self.headers(who),
            **kw,
        )

    async def wait_terminal(self, eval_id: str, who: str = "full", timeout: float = 10) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            resp = await self.client.get(f"/api/v1/jobs/{eval_id}", headers=self.headers(who))
            body = await resp.json()
            if body["status"] in ("completed", "failed"):
                return body
            assert asyncio.get_running_loop().time() < deadline, body
            await asyncio.sleep(0.02)


def make_settings(db_path: str, **sections: dict[str, Any]) -> Settings:
    base: dict[str, dict[str, Any]] = {
        "database": {"path": db_path},
        "workers": {"processes": 0, "concurrency": 4},
        "server": {"public_url": "http://nexio.test"},
        "log": {"format": "json", "level": "warning"},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return load_settings(environ={}, overrides=base)


async def seed(settings: Settings, carriers: list[Any]) -> tuple[dict[str, str], str]:
    store = SqliteStore(settings.database.path)
    await store.open()
    admin = Admin(store)
    try:
        await admin.create_org("acme")
        await admin.create_org("other")
        await admin.add_pool("acme", "carriers:all", carriers, GENERATOR, DEMO_AS_OF)
        await admin.add_pool("other", "carriers:all", carriers[:50], GENERATOR, DEMO_AS_OF)
        keys = {}
        for who, scopes in {
            "full": ("jobs:write", "jobs:read", "traces:read", "admin"),
            "writer": ("jobs:write",),
            "reader": ("jobs:read",),
            "tracer": ("traces:read",),
            "admin": ("admin",),
        }.items():
            _, keys[who] = await admin.create_key("acme", scopes, who)
        _, other = await admin.create_key("other", None, "other")
    finally:
        await store.close()
    return keys, other


WorldFactory = Callable[..., Awaitable[World]]


@pytest.fixture
def make_world(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    db_path: str,
    demo_carriers: list[Any],
) -> WorldFactory:
    async def factory(**sections: dict[str, Any]) -> World:
        settings = make_settings(db_path, **sections)
        keys, other = await seed(settings, demo_carriers)
        client = await aiohttp_client(create_app(settings))
        return World(client, settings, keys, other)

    return factory


@pytest.fixture
async def world(make_world: WorldFactory) -> World:
    return await make_world()


@pytest.fixture
async def receiver(aiohttp_server: Callable[..., Awaitable[Any]]) -> Receiver:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    rec.base_url = str(server.make_url("")).rstrip("/")
    return rec
