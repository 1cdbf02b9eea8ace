"""`Client`: the blocking client of the nexio_lite API (API.md §11).

Built on the standard library's `http.client` rather than on the async client run on a
private event loop in a helper thread: no thread or loop to start, stop or leak, it
works the same inside a program that already runs an event loop (a notebook, an
aiohttp handler calling blocking code), after `fork()`, and Ctrl-C interrupts a call
where it stands. What the two clients share (the requests, reading answers, when to
retry, the `wait()` arithmetic) lives in `_protocol`, `_waiting` and `models` and
does no I/O, so both behave alike; only moving bytes differs.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, Self

from nexio_lite.client import _protocol as p
from nexio_lite.client._sync_http import ConnectionPool
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


class Client:
    """A client of one nexio_lite server for one API key; thread-safe.

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
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = p.base_url(base_url)
        self._headers = p.default_headers(api_key)
        self._timeout = timeout
        self._retry = retry or p.RetryPolicy()
        self._pool = ConnectionPool(self.base_url, ssl_context)
        self._sleep = sleep
        self._clock = clock

    def submit(
        self,
        profile: Mapping[str, Any],
        pool: str,
        webhook_url: str | None = None,
        options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Submitted:
        """Submit an evaluation; the job is durable when this returns."""
        call = p.submit_call(profile, pool, webhook_url, options, idempotency_key)
        body, headers = self._send(call)
        replayed = headers.get("idempotent-replayed") == "true"
        return Submitted.from_json(body, replayed, headers.get("location"))

    def submit_screen(
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
        body, headers = self._send(call)
        replayed = headers.get("idempotent-replayed") == "true"
        return Submitted.from_json(body, replayed, headers.get("location"))

    def submit_to(
        self, path: str, body: Mapping[str, Any], idempotency_key: str | None = None
    ) -> Submitted:
        """Create a job of any type by POSTing `body` to its create route `path` (e.g. a
        type this client has no method for); its result is `Job.result`."""
        call = p.submit_to_call(path, body, idempotency_key)
        answer, headers = self._send(call)
        replayed = headers.get("idempotent-replayed") == "true"
        return Submitted.from_json(answer, replayed, headers.get("location"))

    def get(self, job_id: str) -> Job:
        """The job envelope as it is now."""
        return Job.from_json(self._send(p.get_call(job_id))[0])

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """The job once terminal (completed or failed), long-polling with `?wait=` in
        rounds of at most 60 s; raises `WaitTimeout` (with the last state seen) when it
        is not terminal after `timeout` seconds."""
        deadline = self._clock() + timeout
        while True:
            started = self._clock()
            call = p.get_call(job_id, round_seconds(deadline - started))
            job = Job.from_json(self._send(call)[0])
            if job.terminal:
                return job
            now = self._clock()
            if now >= deadline:
                raise timed_out(job, timeout)
            self._sleep(pause_after(now - started, deadline - now))

    def iter_jobs(
        self, status: str | None = None, type: str | None = None, limit: int = 100
    ) -> Iterator[Job]:
        """Every job of the organization, newest first, fetched `limit` (1-100) a page,
        following `next_cursor`; items come without candidates (as the API lists them)."""
        cursor: str | None = None
        while True:
            body = self._send(p.list_call(status, type, limit, cursor))[0]
            yield from (Job.from_json(item) for item in data_items(body))
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def pools(self) -> list[Pool]:
        """The organization's pools at their current versions."""
        return [Pool.from_json(item) for item in data_items(self._send(p.pools_call())[0])]

    def trace(self, job_id: str, level: Literal["full", "summary"] = "full") -> dict[str, Any]:
        """The audit trace of a completed evaluation, as JSON."""
        return self._send(p.trace_call(job_id, level))[0]

    def deliveries(self, job_id: str) -> list[Delivery]:
        """The job's webhook deliveries with every attempt, oldest first."""
        body = self._send(p.deliveries_call(job_id))[0]
        return [Delivery.from_json(item) for item in data_items(body)]

    def redeliver(self, job_id: str, idempotency_key: str | None = None) -> Redelivery:
        """Queue a new delivery of the job's webhook (409 `Conflict` when the job is not
        terminal or has no webhook URL)."""
        return Redelivery.from_json(self._send(p.redeliver_call(job_id, idempotency_key))[0])

    def close(self) -> None:
        """Close the idle connections; the client opens new ones if used again."""
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, call: p.Call) -> tuple[dict[str, Any], Mapping[str, str]]:
        """The JSON object and headers of the answer to `call`, after the retries the
        policy allows; raises the last failure as a `NexioError`."""
        headers = {**self._headers, **call.headers}
        retries, waited = 0, 0.0
        while True:
            failure: NexioError | p.SendFailed
            try:
                answer = self._pool.send(call, headers, self._timeout + call.extra_timeout)
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
            self._sleep(delay)
            retries, waited = retries + 1, waited + delay
