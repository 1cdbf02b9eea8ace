"""Scopes, idempotency, long-polling, listing, maintenance jobs and pools (API.md §2, §4,
§5, §7, §9)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import aiohttp
import pytest

from nexio_lite.api.context import SERVICES
from nexio_lite.models import now_ms

from .conftest import SEED_BODY, World, WorldFactory
from .receiver import Receiver

# (method, path template, scope) for every authenticated endpoint.
ENDPOINTS = [
    ("POST", "/api/v1/jobs", "jobs:write"),
    ("GET", "/api/v1/jobs", "jobs:read"),
    ("GET", "/api/v1/jobs/{id}", "jobs:read"),
    ("GET", "/api/v1/jobs/{id}/deliveries", "jobs:read"),
    ("POST", "/api/v1/jobs/{id}/deliveries/redeliver", "jobs:write"),
    ("POST", "/api/v1/maintenance/jobs", "admin"),
    ("GET", "/api/v1/pools", "jobs:read"),
    ("GET", "/traces/{id}", "traces:read"),
]
KEY_SCOPES = {"writer": "jobs:write", "reader": "jobs:read", "tracer": "traces:read",
              "admin": "admin"}  # fmt: skip


async def _eval(world: World, body: dict | None = None, **headers: str) -> str:
    resp = await world.client.post("/api/v1/jobs", json=SEED_BODY if body is None else body,
                                   headers=world.headers(**headers))  # fmt: skip
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["eval_id"])


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
async def test_every_endpoint_needs_its_scope_and_only_it(
    world: World, method: str, path: str, scope: str
) -> None:
    eval_id = await _eval(world)
    url = path.format(id=eval_id)
    body = {"job_type": "metrics"} if "maintenance" in path else SEED_BODY
    for who, has in KEY_SCOPES.items():
        kwargs = {"json": body} if method == "POST" else {}
        resp = await world.client.request(method, url, headers=world.headers(who), **kwargs)
        if has == scope:
            assert resp.status != 403, (who, url)
        else:
            assert resp.status == 403, (who, url, resp.status)
            assert (await resp.json())["error"]["code"] == "forbidden"
    assert (await world.client.request(method, url)).status == 401


async def test_same_idempotency_key_and_body_replays_the_original(world: World) -> None:
    h = world.headers(**{"Idempotency-Key": "k-1"})
    first = await world.client.post("/api/v1/jobs", json=SEED_BODY, headers=h)
    assert first.status == 202
    assert "Idempotent-Replayed" not in first.headers
    eval_id = (await first.json())["eval_id"]
    await world.wait_terminal(eval_id)
    profile = dict(reversed(SEED_BODY["profile"].items()))
    again = await world.client.post(
        "/api/v1/jobs", json={"pool": SEED_BODY["pool"], "profile": profile}, headers=h
    )
    assert again.status == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == f"/api/v1/jobs/{eval_id}"
    assert await again.json() == {"eval_id": eval_id, "status": "queued"}
    listed = await (await world.client.get("/api/v1/jobs", headers=world.headers())).json()
    assert [j["id"] for j in listed["data"]] == [eval_id]


async def test_same_key_with_another_body_is_422(world: World) -> None:
    h = world.headers(**{"Idempotency-Key": "k-2"})
    assert (await world.client.post("/api/v1/jobs", json=SEED_BODY, headers=h)).status == 202
    other = dict(SEED_BODY, options={"limit": 1})
    resp = await world.client.post("/api/v1/jobs", json=other, headers=h)
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "idempotency_key_reused"


async def test_keys_are_per_organization(world: World) -> None:
    h = {"Idempotency-Key": "shared"}
    assert (await world.client.post("/api/v1/jobs", json=SEED_BODY,
                                    headers=world.headers(**h))).status == 202  # fmt: skip
    other = await world.client.post("/api/v1/jobs", json=SEED_BODY,
                                    headers={"X-API-Key": world.other_org_key, **h})  # fmt: skip
    assert other.status == 202
    assert "Idempotent-Replayed" not in other.headers


async def test_concurrent_first_requests_with_one_key_create_one_job(world: World) -> None:
    h = world.headers(**{"Idempotency-Key": "race"})
    answers = await asyncio.gather(
        *(world.client.post("/api/v1/jobs", json=SEED_BODY, headers=h) for _ in range(10))
    )
    statuses = sorted(r.status for r in answers)
    assert set(statuses) <= {202, 409}
    ids = {(await r.json())["eval_id"] for r in answers if r.status == 202}
    assert len(ids) == 1
    listed = await (await world.client.get("/api/v1/jobs", headers=world.headers())).json()
    assert len(listed["data"]) == 1


async def test_a_refused_request_frees_its_key(world: World) -> None:
    h = world.headers(**{"Idempotency-Key": "fix-me"})
    bad = await world.client.post("/api/v1/jobs", json=dict(SEED_BODY, pool="nope"), headers=h)
    assert bad.status == 422
    fixed = await world.client.post("/api/v1/jobs", json=SEED_BODY, headers=h)
    assert fixed.status == 202


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there", "é"])
async def test_malformed_idempotency_key_is_400(world: World, value: str) -> None:
    resp = await world.client.post(
        "/api/v1/jobs", json=SEED_BODY,
        headers=world.headers(**{"Idempotency-Key": value.encode("utf-8").decode("latin-1")}),
    )  # fmt: skip
    assert resp.status == 400


async def test_long_poll_returns_when_the_job_completes(world: World) -> None:
    eval_id = await _eval(world)
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}?wait=20", headers=world.headers())
    answered = now_ms()
    job = await resp.json()
    assert job["status"] == "completed"
    completed = dt.datetime.fromisoformat(job["completed_at"]).timestamp() * 1000
    assert answered - completed < 200  # woken, not polled (the benchmark measures it)
    assert "Retry-After" not in resp.headers


async def test_long_poll_times_out_with_the_job_still_queued(make_world: WorldFactory) -> None:
    world = await make_world(workers={"concurrency": 0})
    eval_id = await _eval(world)
    t = time.monotonic()
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}?wait=1", headers=world.headers())
    assert 0.9 <= time.monotonic() - t < 3
    assert (await resp.json())["status"] == "queued"
    assert resp.headers["Retry-After"] == "1"


@pytest.mark.parametrize("wait", ["61", "-1", "abc", "1.5", ""])
async def test_bad_wait_is_400(world: World, wait: str) -> None:
    eval_id = await _eval(world)
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}?wait={wait}", headers=world.headers())
    assert resp.status == 400


async def test_a_thousand_idle_long_polls_cost_no_cpu(make_world: WorldFactory) -> None:
    """Parked long-polls are futures: the process stays idle while they wait."""
    world = await make_world(workers={"concurrency": 0})
    eval_id = await _eval(world)
    url = str(world.client.make_url(f"/api/v1/jobs/{eval_id}?wait=4"))
    services = world.client.app[SERVICES]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers=world.headers()) as http:

        async def poll() -> int:
            async with http.get(url) as resp:
                await resp.read()
                return resp.status

        polls = [asyncio.create_task(poll()) for _ in range(1000)]
        for _ in range(500):
            if len(services.waiters) == 1000:
                break
            await asyncio.sleep(0.01)
        assert len(services.waiters) == 1000
        cpu = time.process_time()
        await asyncio.sleep(1.0)
        assert time.process_time() - cpu < 0.2
        assert set(await asyncio.gather(*polls)) == {200}
    assert len(services.waiters) == 0


async def test_listing_is_newest_first_paged_and_stable(make_world: WorldFactory) -> None:
    world = await make_world(workers={"concurrency": 0})
    ids = [await _eval(world) for _ in range(5)]
    page1 = await (await world.client.get("/api/v1/jobs?limit=2", headers=world.headers())).json()
    assert [j["id"] for j in page1["data"]] == [ids[4], ids[3]]
    newer = await _eval(world)  # arrives between pages: the next page does not shift
    url = f"/api/v1/jobs?limit=2&cursor={page1['next_cursor']}"
    page2 = await (await world.client.get(url, headers=world.headers())).json()
    assert [j["id"] for j in page2["data"]] == [ids[2], ids[1]]
    url = f"/api/v1/jobs?limit=2&cursor={page2['next_cursor']}"
    page3 = await (await world.client.get(url, headers=world.headers())).json()
    assert [j["id"] for j in page3["data"]] == [ids[0]]
    assert page3["next_cursor"] is None
    everything = await (await world.client.get("/api/v1/jobs", headers=world.headers())).json()
    assert everything["data"][0]["id"] == newer
    other = await world.client.get("/api/v1/jobs", headers={"X-API-Key": world.other_org_key})
    assert (await other.json())["data"] == []


async def test_list_filters_and_leaves_out_candidates(world: World) -> None:
    eval_id = await _eval(world)
    await world.wait_terminal(eval_id)
    maint = await world.client.post("/api/v1/maintenance/jobs", json={"job_type": "metrics"},
                                    headers=world.headers())  # fmt: skip
    job_id = (await maint.json())["id"]
    await world.wait_terminal(job_id)
    done = await (await world.client.get("/api/v1/jobs?status=completed&type=evaluation",
                                         headers=world.headers())).json()  # fmt: skip
    (item,) = done["data"]
    assert item["id"] == eval_id
    assert "candidates" not in item
    assert item["passed"] == 578
    assert item["audit"].endswith(eval_id)
    metrics = await (await world.client.get("/api/v1/jobs?type=metrics",
                                            headers=world.headers())).json()  # fmt: skip
    assert [j["id"] for j in metrics["data"]] == [job_id]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "status=done",
                                   "type=other", "cursor=%%%", "cursor=djE6eA"])  # fmt: skip
async def test_bad_list_parameters_are_400(world: World, query: str) -> None:
    resp = await world.client.get(f"/api/v1/jobs?{query}", headers=world.headers())
    assert resp.status == 400


async def test_dry_run_counts_exactly_what_the_sweep_then_deletes(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks={"allow_private_targets": True})
    hook = receiver.on("/x", 200)  # a local receiver: no traffic leaves this host
    ids = [await _eval(world, dict(SEED_BODY, webhook_url=hook)) for _ in range(3)]
    for eval_id in ids:
        await world.wait_terminal(eval_id)

    async def sweep(dry_run: bool) -> dict:
        resp = await world.client.post(
            "/api/v1/maintenance/jobs", headers=world.headers("admin"),
            json={"job_type": "decay_sweep", "dry_run": dry_run, "older_than_days": 0},
        )  # fmt: skip
        assert resp.status == 202
        body = await resp.json()
        assert (body["type"], body["status"]) == ("decay_sweep", "queued")
        assert body["id"].startswith("job_")
        return await world.wait_terminal(body["id"], who="reader")

    dry = await sweep(True)
    assert (dry["type"], dry["status"], dry["dry_run"]) == ("decay_sweep", "completed", True)
    assert (dry["records_scanned"], dry["records_affected"], dry["errors"]) == (3, 3, 0)
    assert "eval_id" not in dry
    for eval_id in ids:  # nothing deleted yet
        assert (await world.client.get(f"/api/v1/jobs/{eval_id}",
                                       headers=world.headers())).status == 200  # fmt: skip
    real = await sweep(False)
    assert (real["dry_run"], real["records_affected"]) == (False, dry["records_affected"])
    for eval_id in ids:
        assert (await world.client.get(f"/api/v1/jobs/{eval_id}",
                                       headers=world.headers())).status == 404  # fmt: skip
    again = await sweep(True)
    assert (again["records_scanned"], again["records_affected"]) == (0, 0)


async def test_sweep_keeps_jobs_younger_than_the_threshold(world: World) -> None:
    eval_id = await _eval(world)
    await world.wait_terminal(eval_id)
    resp = await world.client.post("/api/v1/maintenance/jobs", headers=world.headers("admin"),
                                   json={"job_type": "decay_sweep"})  # fmt: skip
    job = await world.wait_terminal((await resp.json())["id"])
    assert (job["records_scanned"], job["records_affected"]) == (1, 0)


async def test_metrics_job_reports_the_window(world: World) -> None:
    eval_id = await _eval(world)
    await world.wait_terminal(eval_id)
    resp = await world.client.post("/api/v1/maintenance/jobs", headers=world.headers("admin"),
                                   json={"job_type": "metrics", "dry_run": True})  # fmt: skip
    job = await world.wait_terminal((await resp.json())["id"])
    m = job["metrics"]
    assert m["jobs_by_status"]["completed"] >= 1
    assert m["duration_ms_p50"] is not None
    assert m["duration_ms_p95"] >= m["duration_ms_p50"]
    assert m["webhook_success_rate"] is None  # no deliveries in the window


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "job_type"), ({"job_type": "vacuum"}, "job_type"),
     ({"job_type": "metrics", "dry_run": "yes"}, "dry_run"),
     ({"job_type": "decay_sweep", "older_than_days": -1}, "older_than_days"),
     ({"job_type": "decay_sweep", "older_than_days": 1.5}, "older_than_days"),
     ({"job_type": "metrics", "extra": 1}, "extra")],
)  # fmt: skip
async def test_bad_maintenance_requests_are_400(world: World, body: dict, field: str) -> None:
    resp = await world.client.post("/api/v1/maintenance/jobs", json=body,
                                   headers=world.headers("admin"))  # fmt: skip
    assert resp.status == 400
    assert (await resp.json())["error"]["details"][0]["field"] == field


async def test_scheduler_never_queues_a_second_sweep_while_one_waits(
    make_world: WorldFactory,
) -> None:
    from nexio_lite.maintenance import SweepScheduler
    from nexio_lite.store.sqlite import SqliteStore

    world = await make_world(workers={"concurrency": 0})
    store = SqliteStore(world.settings.database.path)
    await store.open()
    try:
        scheduler = SweepScheduler(store, world.settings.retention)
        first = await scheduler.queue_sweeps()
        assert len(first) == 2  # one per organization
        assert await scheduler.queue_sweeps() == []
    finally:
        await store.close()


async def test_two_processes_queue_one_sweep_per_organization_and_period(
    make_world: WorldFactory,
) -> None:
    """Two schedulers on two stores of one file (two processes) at the start of the same
    period: one sweep per organization; a sweep finished, the next period gets its own."""
    from nexio_lite.maintenance import SweepScheduler
    from nexio_lite.store.sqlite import SqliteStore

    world = await make_world(workers={"concurrency": 0})
    stores = [SqliteStore(world.settings.database.path) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        a, b = (SweepScheduler(store, world.settings.retention) for store in stores)
        queued = await asyncio.gather(a.queue_sweeps(period=7), b.queue_sweeps(period=7))
        assert sum(len(q) for q in queued) == 2  # one per organization, whoever queued it
        assert await a.queue_sweeps(period=7) == []
        assert await stores[0].count_jobs("queued") == 2
    finally:
        for store in stores:
            await store.close()


async def test_pools_are_listed_per_organization(world: World) -> None:
    resp = await world.client.get("/api/v1/pools", headers=world.headers("reader"))
    (pool,) = (await resp.json())["data"]
    assert pool == {
        "pool": "carriers:all",
        "size": 1847,
        "version": 1,
        "as_of": "2025-06-30",
        "sha256": "7c4618a074fc7dc553368138bf46b4e38f7ad7e6e9c057438b40b8d6865bd94f",
    }
    other = await world.client.get("/api/v1/pools", headers={"X-API-Key": world.other_org_key})
    assert (await other.json())["data"][0]["size"] == 50
