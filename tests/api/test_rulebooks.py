"""`GET /api/v1/rulebooks` (SCREEN.md §2) on a real app: the current version of each of the
organization's rule books, scope `jobs:read`, never another organization's."""

from __future__ import annotations

import json
from typing import Any

from nexio_lite.admin import Admin
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.verticals.screen import model_rulebook, rulebook_from_obj
from nexio_lite.verticals.screen.model import model_rulebook_json

from .conftest import World

MODEL_SHA = "00432567372ae58e6329b20cf48c307b1af4bac22549b8a15dd92bcd3ab7c0b6"
KEYS = ("rulebook", "version", "rules", "regulations", "sha256")


def _variant(rules: int) -> Any:
    obj = json.loads(model_rulebook_json())
    obj["rules"] = obj["rules"][:rules]
    return rulebook_from_obj(obj)


async def _import(world: World, org: str, rulebook_id: str, book: Any) -> None:
    """As `nexio-lite rulebooks import` does it, from another connection to the database."""
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        await Admin(store).add_rulebook(org, rulebook_id, book)
    finally:
        await store.close()


async def _list(world: World, who: str = "reader") -> Any:
    resp = await world.client.get("/api/v1/rulebooks", headers=world.headers(who))
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


async def test_an_organization_has_no_rule_book_until_one_is_imported(world: World) -> None:
    assert await _list(world) == {"data": []}


async def test_the_listing_holds_each_rule_book_at_its_current_version(world: World) -> None:
    await _import(world, "acme", "rules:default", model_rulebook())
    await _import(world, "acme", "rules:b", _variant(4))
    await _import(world, "acme", "rules:b", _variant(3))
    body = await _list(world)
    assert body == {
        "data": [
            {"rulebook": "rules:b", "version": 2, "rules": 3, "regulations": 5,
             "sha256": _variant(3).sha256},
            {"rulebook": "rules:default", "version": 1, "rules": 10, "regulations": 5,
             "sha256": MODEL_SHA},
        ]
    }  # fmt: skip
    assert all(tuple(entry) == KEYS for entry in body["data"]), "keys in the contract's order"
    # A new version is listed at once (the listing is read from the database each time).
    await _import(world, "acme", "rules:default", _variant(9))
    versions = {e["rulebook"]: e["version"] for e in (await _list(world, "full"))["data"]}
    assert versions == {"rules:b": 2, "rules:default": 2}


async def test_another_organizations_rule_books_never_appear(world: World) -> None:
    await _import(world, "other", "rules:theirs", model_rulebook())
    await _import(world, "other", "rules:default", _variant(2))
    assert await _list(world) == {"data": []}
    await _import(world, "acme", "rules:default", model_rulebook())
    mine = await _list(world)
    assert [(e["rulebook"], e["rules"]) for e in mine["data"]] == [("rules:default", 10)]
    resp = await world.client.get("/api/v1/rulebooks", headers={"X-API-Key": world.other_org_key})
    assert resp.status == 200
    theirs = await resp.json()
    assert [(e["rulebook"], e["rules"]) for e in theirs["data"]] == [
        ("rules:default", 2),
        ("rules:theirs", 10),
    ]


async def test_it_needs_a_key_with_the_jobs_read_scope(world: World) -> None:
    await _import(world, "acme", "rules:default", model_rulebook())
    for who in ("writer", "tracer", "admin"):
        resp = await world.client.get("/api/v1/rulebooks", headers=world.headers(who))
        assert resp.status == 403, who
        assert (await resp.json())["error"]["code"] == "forbidden"
    for headers in ({}, {"X-API-Key": "nx_live_" + "0" * 32}):
        resp = await world.client.get("/api/v1/rulebooks", headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"] == {
            "code": "unauthorized",
            "message": "Invalid or missing API key",
            "details": [],
        }
    resp = await world.client.get(
        "/api/v1/rulebooks", headers={"Authorization": f"Bearer {world.keys['reader']}"}
    )
    assert resp.status == 200
    assert len((await resp.json())["data"]) == 1
