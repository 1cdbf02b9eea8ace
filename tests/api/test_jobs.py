"""GET /api/v1/jobs/{id}: the envelope, the seed's result, tenancy (API.md §5)."""

from __future__ import annotations

import datetime as dt
import re

from .conftest import SEED_BODY, World

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def _submitted(world: World, body: dict | None = None) -> str:
    resp = await world.submit(body)
    assert resp.status == 202, await resp.text()
    return (await resp.json())["eval_id"]


async def test_completed_job_has_the_envelope_and_the_seed_result(world: World) -> None:
    eval_id = await _submitted(world)
    job = await world.wait_terminal(eval_id)
    assert list(job)[:10] == ["id", "eval_id", "type", "status", "created_at", "updated_at",
                              "started_at", "completed_at", "duration_ms", "attempts"]  # fmt: skip
    assert job["id"] == job["eval_id"] == eval_id
    assert (job["type"], job["status"], job["attempts"]) == ("evaluation", "completed", 1)
    for field in ("created_at", "updated_at", "started_at", "completed_at"):
        assert ISO.fullmatch(job[field]), job[field]
    started = dt.datetime.fromisoformat(job["started_at"])
    completed = dt.datetime.fromisoformat(job["completed_at"])
    assert job["duration_ms"] == round((completed - started).total_seconds() * 1000)
    assert job["pool_size"] == 1847
    assert job["pool_size"] == job["filtered"] + job["passed"]
    assert len(job["candidates"]) == job["passed"]
    first = job["candidates"][0]
    assert first["rank"] == 1
    assert (first["carrier_id"], first["name"]) == ("car_01205", "Fablebridge Indemnity Company")
    assert (first["tier"], first["confidence"], first["fit_score"]) == ("STRONG_FIT", "MEDIUM", 90)
    assert list(first["scores"].values()) == ["L1", "L2", "L1", "L1", "L2", "L1"]
    assert first["reasoning"] == (
        "Strong CA prof. liability appetite, $10–15M band; AM Best A+ (XI); est. premium "
        "$12,528 (below market); delegated authority, 2-day quote, via wholesaler; "
        "low complaint index 0.13."
    )
    assert [c["rank"] for c in job["candidates"]] == list(range(1, job["passed"] + 1))
    assert job["audit"] == f"http://nexio.test/traces/{eval_id}"


async def test_options_limit_cuts_candidates_but_passed_counts_all(world: World) -> None:
    eval_id = await _submitted(world, dict(SEED_BODY, options={"limit": 3}))
    job = await world.wait_terminal(eval_id)
    assert len(job["candidates"]) == 3
    assert job["passed"] > 3


async def test_same_request_gives_the_same_result(world: World) -> None:
    a = await world.wait_terminal(await _submitted(world))
    b = await world.wait_terminal(await _submitted(world))
    keep = ("pool_size", "filtered", "passed", "candidates")
    assert {k: a[k] for k in keep} == {k: b[k] for k in keep}


async def test_queued_job_says_when_to_poll_again(make_world) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(workers={"concurrency": 0})
    eval_id = await _submitted(world)
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}", headers=world.headers())
    assert resp.status == 200
    assert resp.headers["Retry-After"] == "1"
    job = await resp.json()
    assert (job["status"], job["started_at"], job["duration_ms"], job["attempts"]) == (
        "queued", None, None, 0)  # fmt: skip
    assert "candidates" not in job


async def test_terminal_job_has_no_retry_after(world: World) -> None:
    eval_id = await _submitted(world)
    await world.wait_terminal(eval_id)
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}", headers=world.headers())
    assert "Retry-After" not in resp.headers


async def test_another_organizations_job_does_not_exist(world: World) -> None:
    eval_id = await _submitted(world)
    resp = await world.client.get(
        f"/api/v1/jobs/{eval_id}", headers={"X-API-Key": world.other_org_key}
    )
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_unknown_and_malformed_ids_are_404(world: World) -> None:
    for job_id in ("eval_0000000000000000000", "nope", "eval_%20x", "eval_" + "a" * 300):
        resp = await world.client.get(f"/api/v1/jobs/{job_id}", headers=world.headers())
        assert resp.status == 404, job_id
        assert (await resp.json())["error"]["code"] == "not_found"


async def test_reading_needs_the_read_scope(world: World) -> None:
    eval_id = await _submitted(world)
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}", headers=world.headers("writer"))
    assert resp.status == 403


async def test_revoked_key_stops_working(world: World) -> None:
    from nexio_lite.auth import hash_key
    from nexio_lite.store.sqlite import SqliteStore

    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        key = await store.find_key(hash_key(world.keys["reader"]))
        assert key is not None
        await store.revoke_key(key.id, 1)
    finally:
        await store.close()
    # The reader key was never used by this app, so no cached lookup hides the revocation.
    resp = await world.client.get("/api/v1/jobs/eval_0000000000000000000",
                                  headers=world.headers("reader"))  # fmt: skip
    assert resp.status == 401


async def test_unknown_route_is_a_json_404(world: World) -> None:
    resp = await world.client.get("/api/v2/nothing")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_health_and_readiness(world: World) -> None:
    assert (await world.client.get("/healthz")).status == 200
    resp = await world.client.get("/readyz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ready"
    expected = {"database", "dispatch", "heartbeat", "reaper", "webhooks", "sweeper",
                "idempotency_purge", "key_last_used", "checkpoint", "scoring"}  # fmt: skip
    assert expected <= set(body["checks"])
    assert all(check["ok"] for check in body["checks"].values())
    assert body["loop_worst_stall_ms"] >= 0
