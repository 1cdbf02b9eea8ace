"""`screen_analysis` jobs end to end (SCREEN.md) on a real app and a real SQLite file:
submit, validation, the rule book version, the result and trace, listing, idempotency,
webhooks to a local receiver, and decay_sweep."""

from __future__ import annotations

import json
from typing import Any

import pytest
from standardwebhooks import Webhook

from nexio_lite.admin import Admin
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.verticals.carriers.schema import LINES
from nexio_lite.verticals.screen import load_screen_request, model_rulebook, rulebook_from_obj
from nexio_lite.verticals.screen import screen as run_screen
from nexio_lite.verticals.screen.model import model_rulebook_json

from .conftest import SEED_BODY, World, WorldFactory
from .receiver import Receiver

URL = "/api/v1/analysis/screen"
TEXT = "Guaranteed approval for every applicant."


async def _import(world: World, book: Any = None, rulebook_id: str = "rules:default") -> None:
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        await Admin(store).add_rulebook("acme", rulebook_id, book or model_rulebook())
    finally:
        await store.close()


@pytest.fixture
async def screening(world: World) -> World:
    await _import(world)
    return world


async def _post(world: World, body: Any, who: str = "full", **headers: str) -> Any:
    return await world.client.post(URL, json=body, headers=world.headers(who, **headers))


async def _submit(world: World, body: Any) -> str:
    resp = await _post(world, body)
    assert resp.status == 202, await resp.text()
    answer = await resp.json()
    assert answer == {"id": answer["id"], "type": "screen_analysis", "status": "queued"}
    assert answer["id"].startswith("job_")
    assert resp.headers["Location"] == f"/api/v1/jobs/{answer['id']}"
    return str(answer["id"])


def _expected(body: dict[str, Any], version: int = 1, book: Any = None) -> dict[str, Any]:
    normalized = {"content": body["content"], "rulebook": body.get("rulebook", "rules:default")}
    if body.get("context"):
        normalized["context"] = body["context"]
    request = load_screen_request(normalized)
    return run_screen(request, book or model_rulebook(), version=version).result


async def test_a_screen_job_completes_with_the_result_screen_gives(screening: World) -> None:
    body = {"content": TEXT, "context": {"market": "surplus", "document": "quote"}}
    job_id = await _submit(screening, body)
    job = await screening.wait_terminal(job_id)
    assert (job["id"], job["type"], job["status"]) == (job_id, "screen_analysis", "completed")
    assert not {"eval_id", "audit", "candidates"} & set(job)
    assert job["result"] == _expected(body)
    assert [f["rule_id"] for f in job["result"]["findings"]] == ["S04", "S01", "S02"]
    assert job["result"]["risk_score"] == 98
    assert list(job["result"]) == ["type", "rulebook", "content_sha256", "risk_score",
                                   "counts", "findings"]  # fmt: skip


async def test_the_job_uses_the_version_current_when_it_was_accepted(screening: World) -> None:
    obj = json.loads(model_rulebook_json())
    obj["rules"] = [r for r in obj["rules"] if r["id"] != "S04"]
    smaller = rulebook_from_obj(obj)
    await _import(screening, smaller)
    job = await screening.wait_terminal(await _submit(screening, {"content": TEXT}))
    assert job["result"]["rulebook"]["version"] == 2
    assert job["result"]["rulebook"]["sha256"] == smaller.sha256
    assert job["result"] == _expected({"content": TEXT}, version=2, book=smaller)
    assert job["result"]["findings"] == []


async def test_the_trace_of_a_screen_job(screening: World) -> None:
    body = {"content": "Ask for the SSN.", "context": {"state": "CA"}}
    job_id = await _submit(screening, body)
    await screening.wait_terminal(job_id)
    resp = await screening.client.get(f"/traces/{job_id}", headers=screening.headers("tracer"))
    assert resp.status == 200
    assert resp.content_type == "application/json"
    trace = await resp.json()
    direct = run_screen(load_screen_request({**body, "rulebook": "rules:default"}),
                        model_rulebook(), job_id=job_id).trace  # fmt: skip
    assert [s["name"] for s in trace.pop("stages")] == ["validate", "match", "score"]
    direct.pop("stages")
    assert trace == direct
    assert trace["context"] == {"state": "CA", "document": "other"}
    s07 = next(r for r in trace["rules"] if r["rule_id"] == "S07")
    assert (s07["fired"], s07["phrase_count"], s07["trigger_count"]) == (True, 1, None)
    other = await screening.client.get(f"/traces/{job_id}",
                                       headers={"X-API-Key": screening.other_org_key})  # fmt: skip
    assert other.status == 404


ERRORS: list[tuple[Any, list[tuple[str, str, str]]]] = [
    ({}, [("content", "required", "content is required")]),
    ({"content": None}, [("content", "required", "content is required")]),
    ({"content": 5}, [("content", "type", "content must be a string")]),
    ({"content": ""}, [("content", "format", "content must be 1-65536 characters")]),
    ({"content": "x" * 65_537}, [("content", "format", "content must be 1-65536 characters")]),
    ({"content": "x", "context": []}, [("context", "type", "context must be an object")]),
    ({"content": "x", "context": {"market": "both"}},
     [("context.market", "enum", "context.market must be one of: admitted, surplus")]),
    ({"content": "x", "context": {"document": "memo"}},
     [("context.document", "enum",
       "context.document must be one of: marketing, other, proposal, quote")]),
    ({"content": "x", "context": {"state": 1}},
     [("context.state", "type", "context.state must be a string")]),
    ({"content": "x", "rulebook": ""},
     [("rulebook", "format", "rulebook must be 1-128 characters")]),
    ({"content": "x", "rulebook": 3}, [("rulebook", "type", "rulebook must be a string")]),
    ({"content": "x", "webhook_url": 3}, [("webhook_url", "type", "webhook_url must be a string")]),
    ({"content": "x", "extra": None, "context": {"k": 1}},
     [("context.k", "unknown_field", "context.k is not a recognized field"),
      ("extra", "unknown_field", "extra is not a recognized field")]),
    ({"content": 1, "context": {"line": "x", "market": "x"}, "rulebook": ""},
     [("content", "type", "content must be a string"),
      ("context.line", "enum", "context.line must be one of: " + ", ".join(sorted(LINES))),
      ("context.market", "enum", "context.market must be one of: admitted, surplus"),
      ("rulebook", "format", "rulebook must be 1-128 characters")]),
]  # fmt: skip


@pytest.mark.parametrize(("body", "details"), ERRORS)
async def test_every_problem_is_reported_at_once_sorted(
    screening: World, body: Any, details: list[tuple[str, str, str]]
) -> None:
    resp = await _post(screening, body)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_request"
    got = [(d["field"], d["code"], d["message"]) for d in error["details"]]
    assert got == details
    first = details[0]
    message = f"Missing required field: {first[0]}" if first[1] == "required" else first[2]
    assert error["message"] == message


async def test_nulls_count_as_absent(screening: World) -> None:
    body = {"content": TEXT, "context": {"state": None, "document": None}, "rulebook": None,
            "webhook_url": None}  # fmt: skip
    job = await screening.wait_terminal(await _submit(screening, body))
    assert job["result"] == _expected({"content": TEXT})


async def test_unknown_rulebook_then_webhook_url(world: World) -> None:
    resp = await _post(world, {"content": TEXT, "webhook_url": "ftp://x"})
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert (error["code"], error["message"]) == (
        "unknown_rulebook",
        "Rulebook 'rules:default' not found for your organization",
    )
    await _import(world)
    resp = await _post(world, {"content": TEXT, "webhook_url": "http://10.0.0.1/hook"})
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "invalid_webhook_url"
    resp = await _post(world, {"content": TEXT, "rulebook": "rules:other"})
    assert (await resp.json())["error"]["message"] == (
        "Rulebook 'rules:other' not found for your organization")  # fmt: skip


async def test_scope_jobs_write(screening: World) -> None:
    assert (await _post(screening, {"content": TEXT}, who="reader")).status == 403
    assert (await _post(screening, {"content": TEXT}, who="writer")).status == 202


async def test_listing_by_type(screening: World) -> None:
    job_id = await _submit(screening, {"content": TEXT})
    await screening.wait_terminal(job_id)
    eval_resp = await screening.submit()
    assert eval_resp.status == 202
    resp = await screening.client.get("/api/v1/jobs?type=screen_analysis",
                                      headers=screening.headers("reader"))  # fmt: skip
    assert resp.status == 200
    data = (await resp.json())["data"]
    assert [j["id"] for j in data] == [job_id]
    assert data[0]["type"] == "screen_analysis"
    assert data[0]["result"]["risk_score"] == 75


async def test_idempotency_key_replays_and_refuses_another_body(screening: World) -> None:
    first = await _post(screening, {"content": TEXT}, **{"Idempotency-Key": "k-1"})
    assert first.status == 202
    again = await _post(screening, {"content": TEXT}, **{"Idempotency-Key": "k-1"})
    assert again.status == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    assert again.headers["Location"] == first.headers["Location"]
    other = await _post(screening, {"content": "other"}, **{"Idempotency-Key": "k-1"})
    assert other.status == 422
    assert (await other.json())["error"]["code"] == "idempotency_key_reused"
    # one key, two create endpoints: a reuse, never a replay of the other's answer
    evaluation = await screening.client.post(
        "/api/v1/jobs", json=SEED_BODY, headers=screening.headers(**{"Idempotency-Key": "k-1"})
    )
    assert evaluation.status == 422
    resp = await screening.client.get("/api/v1/jobs?type=screen_analysis",
                                      headers=screening.headers())  # fmt: skip
    assert len((await resp.json())["data"]) == 1


async def test_webhook_delivered_with_the_envelope(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks={"allow_private_targets": True})
    await _import(world)
    hook = receiver.on("/screen", 200)  # a local receiver on 127.0.0.1
    job_id = await _submit(world, {"content": TEXT, "webhook_url": hook})
    await receiver.wait_for(1, "/screen")
    (got,) = receiver.at("/screen")
    job = await world.wait_terminal(job_id)
    assert json.loads(got.body) == job
    resp = await world.client.get(f"/api/v1/jobs/{job_id}", headers=world.headers())
    assert got.body == await resp.read()
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        org = await store.get_org("acme")
    finally:
        await store.close()
    assert org is not None
    headers = {k.lower(): v for k, v in got.headers.items()}
    Webhook(org.webhook_secret).verify(got.body, headers)


async def test_decay_sweep_removes_screen_jobs(screening: World) -> None:
    ids = [await _submit(screening, {"content": TEXT}) for _ in range(2)]
    for job_id in ids:
        await screening.wait_terminal(job_id)

    async def sweep(dry_run: bool) -> dict:
        resp = await screening.client.post(
            "/api/v1/maintenance/jobs", headers=screening.headers("admin"),
            json={"job_type": "decay_sweep", "dry_run": dry_run, "older_than_days": 0},
        )  # fmt: skip
        assert resp.status == 202
        return await screening.wait_terminal((await resp.json())["id"], who="reader")

    dry = await sweep(True)
    assert (dry["records_scanned"], dry["records_affected"]) == (2, 2)
    await sweep(False)
    for job_id in ids:
        resp = await screening.client.get(f"/api/v1/jobs/{job_id}", headers=screening.headers())
        assert resp.status == 404
        trace = await screening.client.get(f"/traces/{job_id}", headers=screening.headers())
        assert trace.status == 404


async def test_screened_in_a_scoring_process(make_world: WorldFactory) -> None:
    """With a scoring process: the rule book is sent once it asks for it, then reused."""
    world = await make_world(workers={"processes": 1, "concurrency": 2})
    await _import(world)
    bodies = [{"content": TEXT}, {"content": "Ask for the SSN.", "context": {"market": "surplus"}}]
    for body in bodies:
        job = await world.wait_terminal(await _submit(world, body), timeout=30)
        assert job["status"] == "completed", job
        assert job["result"] == _expected(body)
