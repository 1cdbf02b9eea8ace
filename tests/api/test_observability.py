"""Logs and metrics (API.md §9), against a real app on a real SQLite file.

The documented log events and their fields are held here (`EVENTS`), as are the metric
families of the contract's table (`FAMILIES`): a change to either is a change of the
contract, and docs/operations.md lists both.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from typing import Any

import pytest
from aiohttp import ClientResponse
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from nexio_lite import metrics as metrics_module
from nexio_lite.api.context import SERVICES
from nexio_lite.config import WorkerSettings
from nexio_lite.metrics import NO_METRICS, Metrics
from nexio_lite.models import DECAY_SWEEP, EVALUATION, Job, NewJob, now_ms
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.supervisor import Supervisor
from nexio_lite.worker import JobFailure, Outcome, WorkerPool

from .conftest import SEED_BODY, World, WorldFactory
from .receiver import Receiver

FAST = {"allow_private_targets": True, "retry_schedule_seconds": [0, 0.1, 0.2],
        "timeout_seconds": 2.0}  # fmt: skip

# Every documented event and the fields each occurrence carries (docs/operations.md).
EVENTS: dict[str, set[str]] = {
    "http_request": {"method", "route", "status", "duration_ms", "request_id", "org"},
    "job_submitted": {"job_id", "org_id", "type"},
    "job_claimed": {"job_id", "type", "attempt"},
    "job_completed": {"job_id", "type", "duration_ms"},
    "job_failed": {"job_id", "code"},
    "job_released": {"job_id", "reason"},
    "lease_expired": {"job_id", "action"},
    "webhook_delivered": {"delivery_id", "webhook_id", "job_id", "attempt", "status_code",
                          "latency_ms"},
    "webhook_retry_scheduled": {"delivery_id", "webhook_id", "job_id", "attempt", "reason",
                                "status_code", "error", "next_attempt_at"},
    "webhook_given_up": {"delivery_id", "webhook_id", "job_id", "reason"},
    "webhook_redelivery_queued": {"delivery_id", "job_id"},
}  # fmt: skip

# The table of API.md §9: exposed name -> (type, labels).
FAMILIES: dict[str, tuple[str, set[str]]] = {
    "nexio_http_requests_total": ("counter", {"method", "route", "status"}),
    "nexio_http_request_duration_seconds": ("histogram", {"method", "route"}),
    "nexio_jobs_submitted_total": ("counter", {"type"}),
    "nexio_jobs_finished_total": ("counter", {"type", "status"}),
    "nexio_jobs": ("gauge", {"type", "status"}),
    "nexio_queue_lag_seconds": ("gauge", set()),
    "nexio_job_wait_seconds": ("histogram", {"type"}),
    "nexio_job_run_seconds": ("histogram", {"type"}),
    "nexio_webhook_attempts_total": ("counter", {"outcome"}),
    "nexio_webhook_deliveries": ("gauge", {"status"}),
    "nexio_event_loop_stall_seconds": ("histogram", set()),
    "nexio_scoring_process_restarts_total": ("counter", {"reason"}),
    "nexio_build_info": ("gauge", {"version"}),
}


class Calls:
    """The test's own requests, each kept with its response."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.made: list[tuple[str, str, ClientResponse]] = []

    async def __call__(self, method: str, path: str, **kw: Any) -> ClientResponse:
        resp = await self.world.client.request(method, path, **kw)
        await resp.read()
        self.made.append((method, path, resp))
        return resp


def _events(logs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in logs:
        out[entry["event"]].append(entry)
    return out


def _assert_fields(events: dict[str, list[dict[str, Any]]], names: set[str]) -> None:
    for name in sorted(names):
        assert events[name], f"no {name} event"
        for entry in events[name]:
            missing = EVENTS[name] - entry.keys()
            assert not missing, f"{name} lacks {sorted(missing)}: {entry}"
            for field in ("job_id", "delivery_id", "webhook_id", "request_id"):
                if field in EVENTS[name]:
                    assert entry[field], f"{name} has an empty {field}: {entry}"


async def _settled(call: Calls, world: World, eval_id: str, attempts: int) -> dict[str, Any]:
    for _ in range(200):
        resp = await call("GET", f"/api/v1/jobs/{eval_id}/deliveries", headers=world.headers())
        data = (await resp.json())["data"]
        if data and len(data[-1]["attempts"]) >= attempts and data[-1]["status"] != "pending":
            return dict(data[-1])
        await asyncio.sleep(0.05)
    raise AssertionError(f"the delivery of {eval_id} did not settle")


async def _scrape(world: World) -> str:
    resp = await world.client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return await resp.text()


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Exposed sample name -> [(labels, value)], for the nexio_ families."""
    out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("nexio_"):
                out[sample.name].append((sample.labels, sample.value))
    return out


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
           **labels: str) -> float:  # fmt: skip
    matching = [v for found, v in samples[name] if found == labels]
    assert len(matching) == 1, (name, labels, samples[name])
    return matching[0]


async def _traffic(world: World, receiver: Receiver) -> tuple[Calls, dict[str, str]]:
    """Submissions whose webhooks are delivered, retried and given up; a maintenance job,
    a redelivery, a trace (streamed), a 401 and an unmatched path."""
    call = Calls(world)
    ids: dict[str, str] = {}
    for name, answers in {"ok": (200,), "retry": (500, 200), "gone": (410,)}.items():
        url = receiver.on(f"/{name}", *answers)
        resp = await call("POST", "/api/v1/jobs", json=dict(SEED_BODY, webhook_url=url),
                          headers=world.headers(**{"X-Request-Id": f"client-{name}"}))  # fmt: skip
        assert resp.status == 202
        ids[name] = (await resp.json())["eval_id"]
    sweep = await call("POST", "/api/v1/maintenance/jobs", headers=world.headers(),
                       json={"job_type": DECAY_SWEEP, "dry_run": True})  # fmt: skip
    ids["sweep"] = (await sweep.json())["id"]
    for job_id in ids.values():
        resp = await call("GET", f"/api/v1/jobs/{job_id}?wait=10", headers=world.headers())
        assert (await resp.json())["status"] == "completed"
    await _settled(call, world, ids["ok"], 1)
    await _settled(call, world, ids["retry"], 2)
    await _settled(call, world, ids["gone"], 1)
    await call("POST", f"/api/v1/jobs/{ids['ok']}/deliveries/redeliver", headers=world.headers())
    await receiver.wait_for(2, "/ok")
    await call("GET", f"/traces/{ids['ok']}", headers=world.headers(**{"Accept-Encoding": ""}))
    await call("GET", "/api/v1/jobs", headers={"X-API-Key": "nx_live_not_a_key"})
    await call("GET", "/no/such/path")
    return call, ids


async def test_documented_events_are_logged_with_their_fields(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=FAST)
    with capture_logs() as logs:
        call, ids = await _traffic(world, receiver)
        await _settled(call, world, ids["ok"], 1)  # the redelivery
    events = _events(logs)
    _assert_fields(events, set(EVENTS) - {"job_failed", "job_released", "lease_expired"})

    # one http_request per request, under the id its response carries
    by_id = {e["request_id"]: e for e in events["http_request"]}
    assert len(events["http_request"]) == len(by_id) == len(call.made)
    for method, _path, resp in call.made:
        logged = by_id[resp.headers["X-Request-Id"]]
        assert (logged["method"], logged["status"]) == (method, resp.status)
        assert isinstance(logged["duration_ms"], float)
    statuses = {(e["route"], e["status"], e["org"]) for e in events["http_request"]}
    assert ("/api/v1/jobs", 202, "acme") in statuses
    assert ("/api/v1/jobs/{job_id}", 200, "acme") in statuses
    assert ("/api/v1/jobs", 401, None) in statuses  # refused: no organization
    assert ("unmatched", 404, None) in statuses
    streamed = [r for m, p, r in call.made if p.startswith("/traces/")]
    assert streamed[0].headers.get("Transfer-Encoding") == "chunked"  # sent in parts
    assert by_id[streamed[0].headers["X-Request-Id"]]["route"] == "/traces/{eval_id}"
    assert {"client-ok", "client-retry", "client-gone"} <= by_id.keys()  # the client's ids

    submitted = {e["job_id"]: e["type"] for e in events["job_submitted"]}
    assert submitted == {**{ids[k]: EVALUATION for k in ("ok", "retry", "gone")},
                         ids["sweep"]: DECAY_SWEEP}  # fmt: skip
    assert {e["job_id"] for e in events["job_completed"]} == set(ids.values())
    assert {e["job_id"] for e in events["job_claimed"]} == set(ids.values())
    assert [e["reason"] for e in events["webhook_retry_scheduled"]] == ["server_error"]
    assert [e["reason"] for e in events["webhook_given_up"]] == ["gone"]
    assert sorted(e["job_id"] for e in events["webhook_delivered"]) == sorted(
        [ids["ok"], ids["ok"], ids["retry"]]
    )


async def _store(world: World) -> SqliteStore:
    store = SqliteStore(world.settings.database.path)
    await store.open()
    return store


async def test_failed_released_and_expired_jobs_are_logged_with_their_fields(
    make_world: WorldFactory,
) -> None:
    world = await make_world(workers={"concurrency": 0})  # this test runs its own worker
    store = await _store(world)
    recorder = Metrics()
    supervisor = Supervisor()
    blocked = asyncio.Event()

    async def runner(job: Job) -> Outcome:
        if job.id.endswith("1"):
            raise JobFailure("broken", "it broke")
        blocked.set()
        await asyncio.sleep(60)
        raise AssertionError("released before")

    settings = WorkerSettings(concurrency=2, max_attempts=1)
    pool = WorkerPool(store, {"test": runner}, settings, metrics=recorder)
    try:
        with capture_logs() as logs:
            for i in (1, 2):
                await store.enqueue(NewJob(id=f"job_{i:020d}", org_id="acme", type="test",
                                           request="{}", created_at=now_ms()))  # fmt: skip
            await pool.start(supervisor)
            await asyncio.wait_for(blocked.wait(), 5)
            await supervisor.stop(1)
            await pool.drain(0.05)  # job 2 goes back to the queue
            expired = await store.claim(1, 1, now_ms() - 10)  # job 2 again, lease gone
            await pool.reap_once()  # it used its one attempt: failed
    finally:
        await store.close()
    events = _events(logs)
    _assert_fields(events, {"job_claimed", "job_failed", "job_released", "lease_expired"})
    assert [(e["job_id"], e["code"]) for e in events["job_failed"]] == [
        ("job_00000000000000000001", "broken"),
        (expired[0].job.id, "attempts_exhausted"),
    ]
    assert [e["reason"] for e in events["job_released"]] == ["shutdown"]
    assert [e["action"] for e in events["lease_expired"]] == ["failed"]
    samples = _samples(recorder.render().decode())
    assert _value(samples, "nexio_jobs_finished_total", type="test", status="failed") == 2
    assert _value(samples, "nexio_job_run_seconds_count", type="test") == 1  # run here
    assert _value(samples, "nexio_job_wait_seconds_count", type="test") == 2  # claims


async def test_metrics_expose_every_family_of_the_table(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=FAST)
    await _traffic(world, receiver)
    text = await _scrape(world)
    declared = dict(re.findall(r"^# TYPE (nexio_\S+) (\S+)$", text, re.MULTILINE))
    assert {name: kind for name, (kind, _) in FAMILIES.items()}.items() <= declared.items()
    samples = _samples(text)
    for name, (kind, labels) in FAMILIES.items():
        names = [f"{name}_{s}" for s in ("bucket", "count", "sum")] if kind == "histogram" else [
            name]  # fmt: skip
        for sample_name in names:
            assert samples[sample_name], f"{sample_name} has no sample"
            for found, _ in samples[sample_name]:
                assert found.keys() - {"le"} == labels, (sample_name, found)

    def value(name: str, **labels: str) -> float:
        return _value(samples, name, **labels)

    assert value("nexio_jobs_submitted_total", type=EVALUATION) == 3
    assert value("nexio_jobs_submitted_total", type=DECAY_SWEEP) == 1
    assert value("nexio_jobs_finished_total", type=EVALUATION, status="completed") == 3
    assert value("nexio_job_run_seconds_count", type=EVALUATION) == 3
    assert value("nexio_job_wait_seconds_count", type=DECAY_SWEEP) == 1
    assert value("nexio_webhook_attempts_total", outcome="delivered") == 3
    assert value("nexio_webhook_attempts_total", outcome="retry") == 1
    assert value("nexio_webhook_attempts_total", outcome="failed") == 1
    assert value("nexio_webhook_attempts_total", outcome="refused") == 0
    assert value("nexio_http_requests_total", method="POST", route="/api/v1/jobs",
                 status="202") == 3  # fmt: skip
    assert value("nexio_http_requests_total", method="GET", route="/api/v1/jobs",
                 status="401") == 1  # fmt: skip
    assert value("nexio_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value("nexio_jobs", type=EVALUATION, status="queued") == 0
    assert value("nexio_webhook_deliveries", status="pending") == 0
    assert value("nexio_scoring_process_restarts_total", reason="died") == 0
    assert value("nexio_build_info", version=metrics_module.__version__) == 1
    assert value("nexio_event_loop_stall_seconds_count") > 0


async def test_no_label_value_is_an_id_or_a_raw_path(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=FAST)
    _, ids = await _traffic(world, receiver)
    weird = await world.client.request("PROPFIND", "/api/v1/jobs")  # a method we do not name
    assert weird.status == 405
    samples = _samples(await _scrape(world))
    templates = {r.canonical for r in world.client.app.router.resources()} | {"unmatched"}
    forbidden = re.compile(
        r"(eval|job|dlv|msg)_[0-9A-Za-z]{16}|req_[0-9a-f]{8}_|client-|nx_live"
        r"|acme|whsec|/no/such"
    )
    for name, found in samples.items():
        for labels, _ in found:
            for label, value in labels.items():
                assert not forbidden.search(value), (name, label, value)
                assert not any(job_id in value for job_id in ids.values())
                if label == "route":
                    assert value in templates, (name, value)
                if label == "method":
                    assert value in {"GET", "POST", "other"}, (name, value)


async def test_queue_gauges_come_from_the_database(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_module, "QUEUE_CACHE_SECONDS", 0.0)
    world = await make_world(workers={"concurrency": 0})  # the API alone: jobs stay queued
    samples = _samples(await _scrape(world))
    assert _value(samples, "nexio_jobs", type=EVALUATION, status="queued") == 0
    assert _value(samples, "nexio_queue_lag_seconds") == 0

    other = await _store(world)  # another process on the same file
    try:
        created = now_ms() - 5_000
        for i, job_type in enumerate((EVALUATION, EVALUATION, DECAY_SWEEP)):
            await other.enqueue(NewJob(id=f"job_{i:020d}", org_id="acme", type=job_type,
                                       request="{}", created_at=created + i))  # fmt: skip
    finally:
        await other.close()
    resp = await world.submit()
    assert resp.status == 202
    samples = _samples(await _scrape(world))
    assert _value(samples, "nexio_jobs", type=EVALUATION, status="queued") == 3
    assert _value(samples, "nexio_jobs", type=DECAY_SWEEP, status="queued") == 1
    assert _value(samples, "nexio_jobs", type=EVALUATION, status="processing") == 0
    assert 5 <= _value(samples, "nexio_queue_lag_seconds") < 60
    assert _value(samples, "nexio_jobs_submitted_total", type=EVALUATION) == 1  # this process


async def test_metrics_disabled_serves_404_and_records_nothing(make_world: WorldFactory) -> None:
    world = await make_world(metrics={"enabled": False})
    assert world.client.app[SERVICES].metrics is NO_METRICS
    resp = await world.submit()
    assert resp.status == 202
    assert resp.headers["X-Request-Id"]
    missing = await world.client.get("/metrics")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"


async def test_a_worker_process_serves_metrics_and_the_ops_routes_only(
    make_world: WorldFactory,
) -> None:
    world = await make_world(server={"role": "worker"})
    samples = _samples(await _scrape(world))
    assert _value(samples, "nexio_build_info", version=metrics_module.__version__) == 1
    assert (await world.client.get("/healthz")).status == 200
    assert (await world.client.get("/api/v1/jobs", headers=world.headers())).status == 404
    samples = _samples(await _scrape(world))
    assert _value(samples, "nexio_http_requests_total", method="GET", route="unmatched",
                  status="404") == 1  # fmt: skip
