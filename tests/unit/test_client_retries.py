"""The client's retries, waits and error mapping, against local aiohttp stubs on 127.0.0.1
that answer what each test scripts (no nexio_lite server involved).

The sync `Client` blocks, so its tests run it in a thread while the stub serves on the
test's event loop."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import attrs
import pytest
from aiohttp import web

from nexio_lite.client import (
    AsyncClient,
    Client,
    Conflict,
    ConnectionFailed,
    InvalidResponse,
    Job,
    NexioError,
    RateLimited,
    RetryPolicy,
    ServerError,
    Unavailable,
    WaitTimeout,
)

T = TypeVar("T")
PROFILE = {"entity": "acme-manufacturing", "state": "CA",
           "line": "professional_liability", "revenue": 12000000}  # fmt: skip
ACCEPTED = {"eval_id": "eval_0123456789abcdefXYZ", "status": "queued"}


@attrs.define
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes
    at: float


@attrs.define
class Stub:
    """An HTTP server whose answers are scripted: `answers` are used in order, the last
    one repeating; each is a callable of the request returning a response, or the
    string "drop" (close the connection without answering)."""

    answers: list[Any] = attrs.field(factory=list)
    seen: list[Seen] = attrs.field(factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body,
                              time.monotonic()))  # fmt: skip
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        result = answer(request)
        response: web.StreamResponse = await result if asyncio.iscoroutine(result) else result
        return response


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    s = Stub()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    s.url = f"http://127.0.0.1:{port}"
    try:
        yield s
    finally:
        await runner.cleanup()


def json_answer(status: int, body: Any, **headers: str) -> Callable[[web.Request], Any]:
    return lambda request: web.json_response(body, status=status, headers=headers)


def error(status: int, code: str, **headers: str) -> Callable[[web.Request], Any]:
    body = {"error": {"code": code, "message": f"{code} now", "details": []}}
    return json_answer(status, body, **headers)


async def in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


# ---------------------------------------------------------------- retries that succeed


async def test_sync_submit_retries_503_after_retry_after_with_the_same_key(stub: Stub) -> None:
    stub.answers = [error(503, "unavailable", **{"Retry-After": "1"}), json_answer(202, ACCEPTED)]
    with Client(stub.url, "nx_live_test") as c:
        submitted = await in_thread(lambda: c.submit(profile=PROFILE, pool="carriers:all"))
    assert submitted.id == ACCEPTED["eval_id"]
    first, second = stub.seen
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.headers["Idempotency-Key"].startswith("nxc_")
    assert first.body == second.body
    assert second.at - first.at >= 0.95  # Retry-After: 1 honoured


async def test_async_submit_retries_503_after_retry_after_with_the_same_key(stub: Stub) -> None:
    stub.answers = [error(503, "unavailable", **{"Retry-After": "1"}), json_answer(202, ACCEPTED)]
    async with AsyncClient(stub.url, "nx_live_test") as c:
        submitted = await c.submit(profile=PROFILE, pool="carriers:all", idempotency_key="k-1")
    assert submitted.id == ACCEPTED["eval_id"]
    assert [s.headers["Idempotency-Key"] for s in stub.seen] == ["k-1", "k-1"]
    assert stub.seen[1].at - stub.seen[0].at >= 0.95


async def test_submit_waits_out_a_409_in_progress_and_gets_the_replay(stub: Stub) -> None:
    stub.answers = [
        error(409, "conflict"),
        json_answer(202, ACCEPTED, **{"Idempotent-Replayed": "true"}),
    ]
    async with AsyncClient(stub.url, "k", retry=RetryPolicy(backoff=0.01)) as c:
        submitted = await c.submit(profile=PROFILE, pool="carriers:all")
    assert submitted.replayed
    assert len(stub.seen) == 2


async def test_gets_are_retried_after_a_dropped_connection(stub: Stub) -> None:
    job = {"id": "job_0123456789abcdefXY", "type": "metrics", "status": "queued"}
    stub.answers = ["drop", json_answer(200, job)]
    with Client(stub.url, "k", retry=RetryPolicy(backoff=0.01)) as c:
        got = await in_thread(lambda: c.get(job["id"]))
    assert (got.type, got.raw) == ("metrics", job)
    assert len(stub.seen) == 2


# ---------------------------------------------------------------- retries that give up


async def test_sync_always_503_gives_up_after_three_retries(stub: Stub) -> None:
    stub.answers = [error(503, "unavailable", **{"Retry-After": "1"})]
    with Client(stub.url, "k") as c, pytest.raises(Unavailable) as caught:
        await in_thread(lambda: c.submit(profile=PROFILE, pool="carriers:all"))
    err = caught.value
    assert (err.status, err.code, err.retry_after) == (503, "unavailable", 1.0)
    assert len(stub.seen) == 4  # one try and three retries
    assert len({s.headers["Idempotency-Key"] for s in stub.seen}) == 1


async def test_async_always_503_gives_up_after_three_retries(stub: Stub) -> None:
    stub.answers = [error(503, "unavailable", **{"Retry-After": "0"})]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with AsyncClient(stub.url, "k", sleep=sleep) as c:
        with pytest.raises(Unavailable):
            await c.pools()
    assert len(stub.seen) == 4
    assert slept == [0.0, 0.0, 0.0]


async def test_a_retry_after_beyond_the_total_wait_cap_gives_up_at_once(stub: Stub) -> None:
    stub.answers = [error(429, "rate_limited", **{"Retry-After": "120"})]
    async with AsyncClient(stub.url, "k") as c:
        with pytest.raises(RateLimited) as caught:
            await c.submit(profile=PROFILE, pool="carriers:all")
    assert caught.value.retry_after == 120.0
    assert len(stub.seen) == 1


async def test_without_retry_after_the_delays_back_off(stub: Stub) -> None:
    stub.answers = [error(503, "unavailable")]
    slept: list[float] = []
    with Client(stub.url, "k", sleep=slept.append) as c, pytest.raises(Unavailable):
        await in_thread(c.pools)
    assert slept == [0.5, 1.0, 2.0]


async def test_redeliver_is_not_resent_once_it_may_have_arrived(stub: Stub) -> None:
    """The server does not deduplicate redeliveries: after a connection that broke once
    the request was sent, sending it again could queue two deliveries."""
    stub.answers = ["drop"]
    with Client(stub.url, "k", retry=RetryPolicy(backoff=0.01)) as c:
        with pytest.raises(ConnectionFailed):
            await in_thread(lambda: c.redeliver("eval_0123456789abcdefXYZ"))
        assert len(stub.seen) == 1
        with pytest.raises(ConnectionFailed):  # a submission is deduplicated: resent
            await in_thread(lambda: c.submit(profile=PROFILE, pool="carriers:all"))
    assert len(stub.seen) == 5
    assert len({s.headers["Idempotency-Key"] for s in stub.seen[1:]}) == 1
    assert stub.seen[0].headers["Idempotency-Key"] != stub.seen[1].headers["Idempotency-Key"]


async def test_redeliver_is_resent_after_a_503(stub: Stub) -> None:
    stub.answers = [error(503, "unavailable", **{"Retry-After": "0"}),
                    json_answer(202, {"delivery_id": "dlv_1", "status": "pending"})]  # fmt: skip
    async with AsyncClient(stub.url, "k") as c:
        again = await c.redeliver("eval_0123456789abcdefXYZ")
    assert (again.delivery_id, again.status) == ("dlv_1", "pending")
    assert stub.seen[0].body == b""
    assert "Idempotency-Key" in stub.seen[0].headers


@pytest.mark.parametrize("use_async", [False, True])
async def test_nothing_listening_is_a_connection_failure(use_async: bool) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing behind it
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    policy = RetryPolicy(backoff=0.01)
    if use_async:
        async with AsyncClient(url, "k", retry=policy) as ac:
            with pytest.raises(ConnectionFailed) as caught:
                await ac.redeliver("eval_0123456789abcdefXYZ")  # never sent: retried too
    else:
        slept: list[float] = []
        with (
            Client(url, "k", retry=policy, sleep=slept.append) as c,
            pytest.raises(ConnectionFailed) as caught,
        ):
            await in_thread(lambda: c.redeliver("eval_0123456789abcdefXYZ"))
        assert slept == [0.01, 0.02, 0.04]
    assert caught.value.status is None
    assert caught.value.code == "connection_error"
    assert isinstance(caught.value, ConnectionError)


# ---------------------------------------------------------------- answers and waits


async def test_a_plain_text_error_is_still_typed(stub: Stub) -> None:
    stub.answers = [lambda request: web.Response(status=502, text="Bad Gateway\n")]
    with Client(stub.url, "k") as c, pytest.raises(ServerError) as caught:
        await in_thread(c.pools)
    assert (caught.value.status, caught.value.code) == (502, "http_502")
    assert caught.value.message == "Bad Gateway"
    assert len(stub.seen) == 1  # only 429 and 503 are retried


async def test_a_2xx_that_is_not_json_is_an_invalid_response(stub: Stub) -> None:
    stub.answers = [lambda request: web.Response(status=200, text="<html>")]
    async with AsyncClient(stub.url, "k") as c:
        with pytest.raises(InvalidResponse):
            await c.pools()


async def test_a_gzip_answer_is_inflated_and_a_path_prefix_kept(stub: Stub) -> None:
    trace = {"eval_id": "eval_x", "carriers": list(range(1000))}

    def gzipped(request: web.Request) -> web.Response:
        assert "gzip" in request.headers["Accept-Encoding"]
        body = gzip.compress(web.json_response(trace).body)  # type: ignore[arg-type]
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=body, headers=headers)

    stub.answers = [gzipped]
    with Client(stub.url + "/nexio/", "k") as c:
        assert await in_thread(lambda: c.trace("eval_x", level="full")) == trace
    assert stub.seen[0].path_qs == "/nexio/traces/eval_x?level=full"
    assert stub.seen[0].headers["X-API-Key"] == "k"


async def wait_with(use_async: bool, url: str, job_id: str, timeout: float) -> Job:
    if use_async:
        async with AsyncClient(url, "k") as ac:
            return await ac.wait(job_id, timeout=timeout)
    with Client(url, "k") as c:
        return await in_thread(lambda: c.wait(job_id, timeout=timeout))


@pytest.mark.parametrize("use_async", [False, True])
async def test_wait_long_polls_and_raises_wait_timeout(stub: Stub, use_async: bool) -> None:
    job = {"id": "eval_0123456789abcdefXYZ", "type": "evaluation", "status": "processing"}

    async def hold(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.query.get("wait", "0")))
        return web.json_response(job, headers={"Retry-After": "1"})

    stub.answers = [hold]
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        await wait_with(use_async, stub.url, job["id"], 1.5)
    assert 1.5 <= time.monotonic() - started < 4
    assert caught.value.job.status == "processing"
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value, NexioError)
    assert stub.seen[0].path_qs == f"/api/v1/jobs/{job['id']}?wait=2"


async def test_wait_returns_the_terminal_job_and_paces_early_answers(stub: Stub) -> None:
    """A server that answers at once (not holding the long-poll) is asked once a second,
    not in a busy loop."""
    base = {"id": "eval_0123456789abcdefXYZ", "type": "evaluation"}
    failure = {"code": "attempts_exhausted", "message": "gave up", "details": {}}
    stub.answers = [json_answer(200, {**base, "status": "queued"}),
                    json_answer(200, {**base, "status": "processing"}),
                    json_answer(200, {**base, "status": "failed", "error": failure})]  # fmt: skip
    with Client(stub.url, "k") as c:
        job = await in_thread(lambda: c.wait(base["id"], timeout=30))
    assert job.status == "failed"
    assert job.error is not None
    assert job.error.code == "attempts_exhausted"
    assert [s.path_qs.rsplit("=", 1)[1] for s in stub.seen] == ["30", "29", "28"]
    assert stub.seen[2].at - stub.seen[0].at >= 1.9


async def test_a_conflict_on_redeliver_is_not_retried(stub: Stub) -> None:
    stub.answers = [error(409, "conflict")]
    async with AsyncClient(stub.url, "k") as c:
        with pytest.raises(Conflict):
            await c.redeliver("eval_0123456789abcdefXYZ")
    assert len(stub.seen) == 1
