"""POST /api/v1/jobs through a real app and a real SQLite file (API.md §3–4)."""

from __future__ import annotations

import json
import re

import pytest

from nexio_lite.store.sqlite import SqliteStore

from .conftest import SEED_BODY, World, WorldFactory


async def error_of(resp, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


async def test_accepted_job_is_committed_before_the_202(world: World) -> None:
    resp = await world.submit()
    assert resp.status == 202
    body = await resp.json()
    assert body["status"] == "queued"
    assert re.fullmatch(r"eval_[0-9A-Za-z]{16,}", body["eval_id"])
    assert resp.headers["Location"] == f"/api/v1/jobs/{body['eval_id']}"
    # A second connection to the same file sees the row as soon as the 202 is out.
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        job = await store.get_job("acme", body["eval_id"])
    finally:
        await store.close()
    assert job is not None
    assert job.pool_version == 1
    assert json.loads(job.request)["profile"]["entity"] == "acme-manufacturing"


async def test_bearer_authorization_is_accepted(world: World) -> None:
    resp = await world.client.post(
        "/api/v1/jobs", json=SEED_BODY, headers={"Authorization": f"Bearer {world.keys['full']}"}
    )
    assert resp.status == 202


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "nx_live_nope"}, {"Authorization": "Basic x"}]
)
async def test_missing_or_unknown_key_is_401(world: World, headers: dict[str, str]) -> None:
    resp = await world.client.post("/api/v1/jobs", json=SEED_BODY, headers=headers)
    err = await error_of(resp, 401)
    assert err == {"code": "unauthorized", "message": "Invalid or missing API key", "details": []}


async def test_key_without_write_scope_is_403(world: World) -> None:
    err = await error_of(await world.submit(who="reader"), 403)
    assert err["code"] == "forbidden"


async def test_body_that_is_not_json_is_400(world: World) -> None:
    resp = await world.client.post(
        "/api/v1/jobs", data=b"{nope", headers=world.headers(**{"Content-Type": "application/json"})
    )
    err = await error_of(resp, 400)
    assert err == {"code": "invalid_request", "message": "Request body is not valid JSON",
                   "details": []}  # fmt: skip


@pytest.mark.parametrize("raw", [b"[]", b"12", b'"x"', b"null"])
async def test_body_that_is_not_an_object_is_400(world: World, raw: bytes) -> None:
    resp = await world.client.post(
        "/api/v1/jobs", data=raw, headers=world.headers(**{"Content-Type": "application/json"})
    )
    err = await error_of(resp, 400)
    assert err["message"] == "Request body must be a JSON object"


async def test_wrong_content_type_is_415(world: World) -> None:
    resp = await world.client.post(
        "/api/v1/jobs",
        data=json.dumps(SEED_BODY),
        headers=world.headers(**{"Content-Type": "text/plain"}),
    )
    assert (await error_of(resp, 415))["code"] == "unsupported_media_type"


async def test_body_over_the_limit_is_413(world: World) -> None:
    big = dict(SEED_BODY, padding="x" * (world.settings.server.max_body_bytes + 10))
    assert (await error_of(await world.submit(big), 413))["code"] == "payload_too_large"


async def test_chunked_body_over_the_limit_is_413(world: World) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(300):
            yield b" " * 1024

    resp = await world.client.post(
        "/api/v1/jobs", data=chunks(), headers=world.headers(**{"Content-Type": "application/json"})
    )
    assert (await error_of(resp, 413))["code"] == "payload_too_large"


async def test_every_validation_error_is_listed_sorted(world: World) -> None:
    body = {
        "profile": {"entity": "Acme Inc", "state": "ca", "line": "eo", "revenue": 12000000.5,
                    "naics": "999999", "loss_ratio": 0.12345, "foo": 1},
        "pool": "carriers:all",
        "colour": "red",
    }  # fmt: skip
    err = await error_of(await world.submit(body), 400)
    assert [(d["field"], d["code"]) for d in err["details"]] == [
        ("colour", "unknown_field"),
        ("profile.entity", "format"),
        ("profile.foo", "unknown_field"),
        ("profile.line", "enum"),
        ("profile.loss_ratio", "format"),
        ("profile.naics", "format"),
        ("profile.revenue", "type"),
        ("profile.state", "enum"),
    ]
    assert err["message"] == "colour is not a recognized field"


async def test_missing_required_field_message_names_it(world: World) -> None:
    body = {"profile": {"state": "CA", "line": "cyber", "revenue": 5}, "pool": "carriers:all"}
    err = await error_of(await world.submit(body), 400)
    assert err["message"] == "Missing required field: profile.entity"
    assert err["details"] == [
        {"field": "profile.entity", "code": "required", "message": "profile.entity is required"}
    ]


async def test_unknown_pool_is_422_after_the_profile_is_valid(world: World) -> None:
    err = await error_of(await world.submit(dict(SEED_BODY, pool="carriers:unknown")), 422)
    assert err == {
        "code": "unknown_pool",
        "message": "Pool 'carriers:unknown' not found for your organization",
        "details": [],
    }


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "/relative", "http://user:pw@example.com/", "http://127.0.0.1/x",
     "http://10.0.0.7/hook", "http://[::1]/", "http://169.254.169.254/latest"],
)  # fmt: skip
async def test_unacceptable_webhook_url_is_422(world: World, url: str) -> None:
    err = await error_of(await world.submit(dict(SEED_BODY, webhook_url=url)), 422)
    assert err["code"] == "invalid_webhook_url"


async def test_public_webhook_url_is_accepted(make_world: WorldFactory) -> None:
    # Workers off: the job is accepted and never delivered (no traffic leaves this host).
    world = await make_world(workers={"concurrency": 0})
    resp = await world.submit(dict(SEED_BODY, webhook_url="https://hooks.example.com/nexio"))
    assert resp.status == 202


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff\xfe", b"{" * 100_000, b'{"profile": NaN}', b'{"a":"\\ud800"}', b"1" * 5000,
     b'{"profile": {"revenue": 1e999999}, "pool": "p"}', b'{"profile": [], "pool": {}}'],
)  # fmt: skip
async def test_malformed_input_never_gets_a_5xx(world: World, raw: bytes) -> None:
    resp = await world.client.post(
        "/api/v1/jobs", data=raw, headers=world.headers(**{"Content-Type": "application/json"})
    )
    assert 400 <= resp.status < 500
    await error_of(resp, resp.status)


async def test_bad_input_stores_nothing(world: World) -> None:
    await world.submit({"profile": {}, "pool": "carriers:all"})
    await world.submit(dict(SEED_BODY, pool="nope"))
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        assert await store.count_jobs() == 0
    finally:
        await store.close()
