"""The Python client (`nexio_lite.client`, API.md §11) against a real `nexio-lite serve`.

One server for the module (starting one takes ~3 s): an organization with the demo pool
and a key, webhooks to 127.0.0.1 allowed. Tests only add jobs, so they don't disturb
each other; the ones that count jobs count their own.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs
import pytest
from aiohttp import web

from nexio_lite.client import (
    AsyncClient,
    Client,
    Conflict,
    Delivery,
    InvalidRequest,
    NexioError,
    NotFound,
    Unauthorized,
    Unprocessable,
    WebhookVerificationError,
    verify_webhook,
)

from .conftest import SEED_BODY, cli_env, free_port, run_cli

T = TypeVar("T")
PROFILE = cast(dict[str, Any], SEED_BODY["profile"])  # the seed's example
POOL = "carriers:all"
FIRST = {"carrier_id": "car_01205", "name": "Fablebridge Indemnity Company",
         "tier": "STRONG_FIT", "confidence": "MEDIUM", "fit_score": 90}  # fmt: skip
FIRST_SCORES = {"appetite": "L1", "coverage": "L2", "financial": "L1",
                "pricing": "L1", "placement": "L2", "service": "L1"}  # fmt: skip


@attrs.frozen
class Live:
    url: str
    key: str
    secret: str
    env: dict[str, str]


async def _provision(env: dict[str, str]) -> tuple[str, str]:
    """An organization with the demo pool: its webhook secret and a new key."""
    code, out, err = await run_cli(env, "orgs", "create", "acme")
    assert code == 0, err
    secret = out.strip().splitlines()[-1]
    code, _, err = await run_cli(env, "pools", "demo", "--org", "acme")
    assert code == 0, err
    code, _, err = await run_cli(env, "rulebooks", "demo", "--org", "acme")
    assert code == 0, err
    code, out, err = await run_cli(env, "keys", "create", "--org", "acme")
    assert code == 0, err
    return secret, out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("client")
    env = cli_env(tmp, NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true")
    secret, key = asyncio.run(_provision(env))
    port = free_port()
    with (tmp / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nexio_lite", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, tmp / "server.log")
        yield Live(url, key, secret, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):
        assert proc.poll() is None, f"server exited: {log.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("server did not become ready")


@pytest.fixture
def client(live: Live) -> Iterator[Client]:
    with Client(live.url, live.key) as c:
        yield c


def _eventually(probe: Callable[[], T | None], timeout: float = 15) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ----------------------------------------------------------------- the sync client


def test_submit_then_wait_reads_the_seed_result(client: Client) -> None:
    submitted = client.submit(profile=PROFILE, pool=POOL)
    assert submitted.id.startswith("eval_")
    assert (submitted.status, submitted.replayed) == ("queued", False)
    assert submitted.location == f"/api/v1/jobs/{submitted.id}"

    job = client.wait(submitted.id, timeout=30)
    assert (job.id, job.eval_id, job.type, job.status) == (
        submitted.id, submitted.id, "evaluation", "completed",
    )  # fmt: skip
    assert job.terminal
    assert job.error is None
    assert job.attempts == 1
    first = job.candidates[0]
    assert {k: getattr(first, k) for k in FIRST} == FIRST
    assert first.rank == 1
    assert first.scores == FIRST_SCORES
    assert first.scores["appetite"] == "L1"
    assert first.reasoning.startswith("Strong CA prof. liability appetite")
    assert job.pool_size == (job.filtered or 0) + (job.passed or 0) == 1847
    assert len(job.candidates) == job.passed
    assert job.created_at is not None
    assert job.created_at.tzinfo == UTC
    assert job.completed_at is not None
    assert job.duration_ms is not None
    assert job.audit is not None
    assert job.audit.endswith(f"/traces/{job.id}")
    assert job.raw["candidates"][0] == first.raw
    assert client.get(job.id).raw == job.raw  # a terminal job never changes


def test_options_are_sent(client: Client) -> None:
    submitted = client.submit(profile=PROFILE, pool=POOL, options={"limit": 3})
    job = client.wait(submitted.id)
    assert [c.rank for c in job.candidates] == [1, 2, 3]
    assert job.passed == 578


def test_iter_jobs_follows_next_cursor_across_pages(client: Client) -> None:
    ids = [client.submit(profile=PROFILE, pool=POOL).id for _ in range(5)]
    for job_id in ids:
        client.wait(job_id)
    listed = list(client.iter_jobs(status="completed", type="evaluation", limit=2))
    listed_ids = [j.id for j in listed]
    assert len(listed_ids) == len(set(listed_ids))  # no page repeats an item
    assert [i for i in listed_ids if i in ids] == ids[::-1]  # newest first
    assert all(j.status == "completed" and j.candidates == [] for j in listed)
    assert all("candidates" not in j.raw for j in listed)


def test_pools_lists_the_demo_pool(client: Client) -> None:
    (pool,) = client.pools()
    assert (pool.pool, pool.size, pool.version, pool.as_of) == (
        "carriers:all", 1847, 1, "2025-06-30",
    )  # fmt: skip
    assert pool.sha256 is not None
    assert len(pool.sha256) == 64


def test_trace_summary_and_full(client: Client) -> None:
    job = client.wait(client.submit(profile=PROFILE, pool=POOL).id)
    summary = client.trace(job.id, level="summary")
    assert summary["eval_id"] == job.id
    assert "stages" in summary
    assert "carriers" not in summary
    full = client.trace(job.id)  # sent gzip-compressed, inflated by the client
    assert full["eval_id"] == job.id
    assert len(full["carriers"]) == 1847


def test_a_400_is_an_invalid_request_with_every_detail(client: Client) -> None:
    profile = {**PROFILE, "state": "ca", "revenue": 1.5}
    with pytest.raises(InvalidRequest) as caught:
        client.submit(profile=profile, pool=POOL)
    err = caught.value
    assert (err.status, err.code) == (400, "invalid_request")
    assert {d["field"] for d in err.details} == {"profile.revenue", "profile.state"}
    assert err.message == err.details[0]["message"]
    assert err.request_id


def test_a_422_is_unprocessable(client: Client) -> None:
    with pytest.raises(Unprocessable) as caught:
        client.submit(profile=PROFILE, pool="carriers:unknown")
    assert (caught.value.status, caught.value.code) == (422, "unknown_pool")
    assert isinstance(caught.value, InvalidRequest)


def test_unknown_or_malformed_ids_are_not_found(client: Client) -> None:
    for job_id in ("eval_" + "0" * 20, "../pools", "eval_x?wait=1"):
        with pytest.raises(NotFound) as caught:
            client.get(job_id)
        assert (caught.value.status, caught.value.code) == (404, "not_found")
    with pytest.raises(NotFound):
        client.trace("eval_" + "0" * 20)


def test_a_bad_key_is_unauthorized(live: Live) -> None:
    with Client(live.url, "nx_live_" + "0" * 32) as c, pytest.raises(Unauthorized) as caught:
        c.pools()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert isinstance(caught.value, NexioError)


def test_the_same_idempotency_key_replays_the_same_job(client: Client) -> None:
    key = f"order-{time.time_ns()}"
    first = client.submit(profile=PROFILE, pool=POOL, idempotency_key=key)
    again = client.submit(profile=PROFILE, pool=POOL, idempotency_key=key)
    assert again.id == first.id
    assert again.replayed
    assert not first.replayed
    with pytest.raises(Unprocessable) as caught:
        client.submit(profile=PROFILE, pool="carriers:other", idempotency_key=key)
    assert caught.value.code == "idempotency_key_reused"
    one, two = (client.submit(profile=PROFILE, pool=POOL) for _ in range(2))
    assert one.id != two.id  # a random key each


def test_redeliver_without_a_webhook_is_a_conflict(client: Client) -> None:
    job = client.wait(client.submit(profile=PROFILE, pool=POOL).id)
    with pytest.raises(Conflict) as caught:
        client.redeliver(job.id)
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert client.deliveries(job.id) == []


class _Hooks(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A webhook receiver on 127.0.0.1 (a thread): its URL and what it received."""
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Hooks", (_Hooks,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def _delivered(client: Client, job_id: str, count: int) -> list[Delivery] | None:
    found = client.deliveries(job_id)
    done = len(found) == count and all(d.status == "delivered" for d in found)
    return found if done else None


def test_webhook_is_verified_and_redelivered(
    client: Client, live: Live, hooks: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = hooks
    job = client.wait(client.submit(profile=PROFILE, pool=POOL, webhook_url=url).id)
    (first,) = _eventually(lambda: _delivered(client, job.id, 1))
    assert (first.url, len(first.attempts)) == (url, 1)
    assert first.attempts[0].status_code == 204
    assert first.attempts[0].error is None
    headers, body = received[0]
    assert verify_webhook(live.secret, headers, body) == job.raw
    with pytest.raises(WebhookVerificationError):
        verify_webhook(live.secret, headers, body.replace(b"STRONG_FIT", b"WEAK_FIT"))

    again = client.redeliver(job.id)
    assert again.status == "pending"
    assert again.delivery_id != first.id
    deliveries = _eventually(lambda: _delivered(client, job.id, 2))
    assert [d.id for d in deliveries] == [first.id, again.delivery_id]
    assert deliveries[1].webhook_id != first.webhook_id
    assert verify_webhook(live.secret, *received[1]) == job.raw


def test_webhook_verifies_with_either_secret_during_a_rotation(
    client: Client, live: Live, hooks: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = hooks
    code, out, err = asyncio.run(run_cli(live.env, "orgs", "rotate-secret", "acme"))
    assert code == 0, err
    new_secret = out.strip().splitlines()[-1]

    def rotated() -> tuple[dict[str, str], bytes] | None:  # the server sees it within 5 s
        job = client.wait(client.submit(profile=PROFILE, pool=POOL, webhook_url=url).id)
        _eventually(lambda: _delivered(client, job.id, 1))
        headers, body = received[-1]
        return (headers, body) if len(headers["webhook-signature"].split()) == 2 else None

    headers, body = _eventually(rotated, timeout=20)
    assert verify_webhook(live.secret, headers, body) == verify_webhook(new_secret, headers, body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + "A" * 32, headers, body)


# ----------------------------------------------------------------- the async client


async def test_async_submit_wait_and_errors(live: Live) -> None:
    async with AsyncClient(live.url, live.key) as c:
        submitted = await c.submit(profile=PROFILE, pool=POOL)
        job = await c.wait(submitted.id, timeout=30)
        assert job.status == "completed"
        assert job.candidates[0].name == FIRST["name"]
        assert job.candidates[0].scores == FIRST_SCORES
        assert (await c.get(job.id)).raw == job.raw
        assert (await c.trace(job.id, level="summary"))["eval_id"] == job.id
        assert [p.pool for p in await c.pools()] == ["carriers:all"]
        with pytest.raises(NotFound):
            await c.get("eval_" + "0" * 20)
        with pytest.raises(InvalidRequest) as caught:
            await c.submit(profile={}, pool=POOL)
        assert caught.value.code == "invalid_request"
        assert caught.value.details
        with pytest.raises(Conflict):
            await c.redeliver(job.id)


SCREEN_TEXT = "Guaranteed approval for every applicant."
SCREEN_CONTEXT = {"market": "surplus", "document": "quote"}


def test_submit_screen_then_wait_gives_a_typed_result(client: Client) -> None:
    submitted = client.submit_screen(SCREEN_TEXT, context=SCREEN_CONTEXT)
    assert submitted.id.startswith("job_")
    assert submitted.status == "queued"
    job = client.wait(submitted.id, timeout=30)
    assert (job.type, job.status) == ("screen_analysis", "completed")
    assert job.candidates == []
    assert job.screen is not None
    assert job.screen.risk_score == 98
    assert job.screen.rulebook["id"] == "rules:default"
    assert [f.rule_id for f in job.screen.findings] == ["S04", "S01", "S02"]
    first = job.screen.findings[0]
    assert first.evidence_count == len(first.evidence)  # fewer than 20 occurrences here
    for occurrence in (o for f in job.screen.findings for o in f.evidence):
        assert SCREEN_TEXT[occurrence.start_offset : occurrence.end_offset].lower() == (
            occurrence.text.lower()
        )
    assert job.screen.raw == job.raw["result"]
    again = client.submit_screen(SCREEN_TEXT, context=SCREEN_CONTEXT,
                                 idempotency_key=f"screen-{submitted.id}")  # fmt: skip
    replay = client.submit_screen(SCREEN_TEXT, context=SCREEN_CONTEXT,
                                  idempotency_key=f"screen-{submitted.id}")  # fmt: skip
    assert replay.replayed
    assert replay.id == again.id
    with pytest.raises(Unprocessable) as caught:
        client.submit_screen(SCREEN_TEXT, rulebook="rules:missing")
    assert caught.value.code == "unknown_rulebook"
    with pytest.raises(InvalidRequest) as bad:
        client.submit_screen("")
    assert [d["field"] for d in bad.value.details] == ["content"]


async def test_async_submit_screen(live: Live) -> None:
    async with AsyncClient(live.url, live.key) as c:
        job = await c.wait((await c.submit_screen(SCREEN_TEXT, context=SCREEN_CONTEXT)).id,
                           timeout=30)  # fmt: skip
        assert job.screen is not None
        assert job.screen.risk_score == 98


async def test_async_idempotency_key_replays(live: Live) -> None:
    key = f"async-order-{time.time_ns()}"
    async with AsyncClient(live.url, live.key) as c:
        first = await c.submit(profile=PROFILE, pool=POOL, idempotency_key=key)
        again = await c.submit(profile=PROFILE, pool=POOL, idempotency_key=key)
    assert again.id == first.id
    assert again.replayed


async def test_async_iter_jobs_follows_next_cursor(live: Live) -> None:
    async with AsyncClient(live.url, live.key) as c:
        ids = [(await c.submit(profile=PROFILE, pool=POOL)).id for _ in range(3)]
        for job_id in ids:
            await c.wait(job_id)
        listed = [j.id async for j in c.iter_jobs(type="evaluation", limit=1)]
    assert len(listed) == len(set(listed))
    assert [i for i in listed if i in ids] == ids[::-1]


async def test_async_webhook_to_a_local_receiver_verifies(live: Live) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with AsyncClient(live.url, live.key) as c:
            url = f"http://127.0.0.1:{port}/hook"
            job = await c.wait((await c.submit(profile=PROFILE, pool=POOL, webhook_url=url)).id)
            for _ in range(300):
                deliveries = await c.deliveries(job.id)
                if deliveries and deliveries[0].status == "delivered":
                    break
                await asyncio.sleep(0.05)
            assert deliveries[0].status == "delivered"
        headers, body = received[0]
        assert verify_webhook(live.secret, headers, body) == job.raw
    finally:
        await runner.cleanup()
