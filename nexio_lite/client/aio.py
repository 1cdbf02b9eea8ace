"""`AsyncClient`: the asyncio client of the nexio_lite API (API.md §11), on aiohttp.

The same methods as `Client`, awaitable (`iter_jobs` is an async iterator), with the
same requests, retries and results: everything but moving bytes is shared.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
from yarl import URL

from nexio_lite.client import _protocol as p
from nexio_lite.client._waiting import pause_after, round_seconds, timed_out
from nexio_lite.client.errors import NexioError, error_from_answer
from nexio_lite.client.models import (
    Delivery,
    Job,
    Pool,
    Redelivery,
    Submitted,
    data_items,
)


class AsyncClient:
    """A client of one nexio_lite server for one API key, for one event loop.

    Its HTTP session opens on first use; `close()` (or `async with`) closes it.
    `timeout` bounds connecting and each wait for bytes (a `wait()` round gets its
    long-poll seconds on top). Every POST carries an Idempotency-Key (a random one
    unless given); answers 429 and 503 and connection failures are retried per
    `retry` (see `RetryPolicy`), then raised. Every error answer raises a `NexioError`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retry: p.RetryPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = p.base_url(base_url)
        self._headers = p.default_headers(api_key)
        self._timeout = timeout
        self._retry = retry or p.RetryPolicy()
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._sleep = sleep
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def submit(
        self,
        profile: Mapping[str, Any],
        pool: str,
        webhook_url: str | None = None,
        options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Submitted:
        """Submit an evaluation; the job is durable when this returns."""
        call = p.submit_call(profile, pool, webhook_url, options, idempotency_key)
        body, headers = await self._send(call)
        replayed = headers.get("idempotent-replayed") == "true"
        return Submitted.from_json(body, replayed, headers.get("location"))

    async def submit_screen(
        self,
        content: str,
        context: Mapping[str, Any] | None = None,
        rulebook: str | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Submitted:
        """Submit a placement screen of `content` (context: state, line, market,
        document; rulebook: default `rules:default`); durable when this returns. The
        finished job's result is `Job.screen`."""
        call = p.submit_screen_call(content, context, rulebook, webhook_url, idempotency_key)
        body, headers = await self._send(call)
        replayed = headers.get("idempotent-replayed") == "true"
        return Submitted.from_json(body, replayed, headers.get("location"))

    async def submit_to(
        self, path: str, body: Mapping[str, Any], idempotency_key: str | None = None
    ) -> Submitted:
        """Create a job of any type by POSTing `body` to its create route `path` (e.g. a
        type this client has no method for); its result is `Job.result`."""
        call = p.submit_to_call(path, body, idempotency_key)
        answer, headers = await self._send(call)
        replayed = headers.get("idempotent-replayed") == "true"
        return Submitted.from_json(answer, replayed, headers.get("location"))

    async def get(self, job_id: str) -> Job:
        """The job envelope as it is now."""
        return Job.from_json((await self._send(p.get_call(job_id)))[0])

    # `timeout` is the contract's name (API.md §11) and the same as `Client.wait`'s; it
    # spans many long-poll rounds, which `asyncio.timeout` around the call would cut.
    async def wait(self, job_id: str, timeout: float = 60.0) -> Job:  # noqa: ASYNC109
        """The job once terminal, long-polling with `?wait=` in rounds of at most 60 s;
        raises `WaitTimeout` (with the last state seen) after `timeout` seconds."""
        deadline = self._clock() + timeout
        while True:
            started = self._clock()
            call = p.get_call(job_id, round_seconds(deadline - started))
            job = Job.from_json((await self._send(call))[0])
            if job.terminal:
                return job
            now = self._clock()
            if now >= deadline:
                raise timed_out(job, timeout)
            await self._sleep(pause_after(now - started, deadline - now))

    async def iter_jobs(
        self, status: str | None = None, type: str | None = None, limit: int = 100
    ) -> AsyncIterator[Job]:
        """Every job of the organization, newest first, fetched `limit` (1-100) a page,
        following `next_cursor`; items come without candidates."""
        cursor: str | None = None
        while True:
            body = (await self._send(p.list_call(status, type, limit, cursor)))[0]
            for item in data_items(body):
                yield Job.from_json(item)
            cursor = body.get("next_cursor")
            if not cursor:
                return

    async def pools(self) -> list[Pool]:
        """The organization's pools at their current versions."""
        body = (await self._send(p.pools_call()))[0]
        return [Pool.from_json(item) for item in data_items(body)]

    async def trace(
        self, job_id: str, level: Literal["full", "summary"] = "full"
    ) -> dict[str, Any]:
        """The audit trace of a completed evaluation, as JSON."""
        return (await self._send(p.trace_call(job_id, level)))[0]

    async def deliveries(self, job_id: str) -> list[Delivery]:
        """The job's webhook deliveries with every attempt, oldest first."""
        body = (await self._send(p.deliveries_call(job_id)))[0]
        return [Delivery.from_json(item) for item in data_items(body)]

    async def redeliver(self, job_id: str, idempotency_key: str | None = None) -> Redelivery:
        """Queue a new delivery of the job's webhook (409 `Conflict` when the job is not
        terminal or has no webhook URL)."""
        body = (await self._send(p.redeliver_call(job_id, idempotency_key)))[0]
        return Redelivery.from_json(body)

    async def close(self) -> None:
        """Close the HTTP session; the client opens a new one if used again."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _send(self, call: p.Call) -> tuple[dict[str, Any], Mapping[str, str]]:
        """The JSON object and headers of the answer to `call`, after the retries the
        policy allows; raises the last failure as a `NexioError`."""
        retries, waited = 0, 0.0
        while True:
            failure: NexioError | p.SendFailed
            try:
                answer = await self._exchange(call)
            except p.SendFailed as exc:
                failure = exc
            else:
                if 200 <= answer.status < 300:
                    return p.read_answer(answer), answer.headers
                failure = error_from_answer(answer.status, answer.headers, answer.body)
            delay = self._retry.delay(call, failure, retries, waited)
            if delay is None:
                if isinstance(failure, p.SendFailed):
                    raise failure.to_error() from failure
                raise failure
            await self._sleep(delay)
            retries, waited = retries + 1, waited + delay

    async def _exchange(self, call: p.Call) -> p.Answer:
        """One request and its whole answer; raises `SendFailed` (its `sent` False only
        when the connection was never made)."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout, sock_read=self._timeout + call.extra_timeout
        )
        url = URL(self.base_url + call.path, encoded=True)
        try:
            async with self._http().request(
                call.method, url, data=call.body, headers={**self._headers, **call.headers},
                timeout=timeout, allow_redirects=False,
            ) as response:  # fmt: skip
                body = await response.read()
                headers = {k.lower(): v for k, v in response.headers.items()}
                return p.Answer(response.status, headers, body)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise p.SendFailed.of(exc, sent=False) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise p.SendFailed.of(exc, sent=True) from exc

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl, keepalive_timeout=p.IDLE_CONNECTION_SECONDS
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session
