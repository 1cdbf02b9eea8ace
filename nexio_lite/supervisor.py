"""Supervised background loops (STYLE.md habit 15).

Every background loop of the service (dispatch, heartbeats, reaper, webhook sender,
key-use flusher, sweeper, checkpointer) is written as one *round*: an async function
that does a bounded piece of work and returns how many seconds to wait before the next
round (None: the loop's `period`). The supervisor runs the rounds forever:

- between rounds it sleeps until the loop is woken (`Loop.wake`) or the delay passes;
- a round that raises does not end the loop: the error is logged once per streak of
  failures (the first time, with its stack; not once per retry), the loop backs off
  (doubling from `BACKOFF_START` to `BACKOFF_CAP` seconds, with jitter) and tries again,
  and its recovery is logged with how long it was down;
- each loop's health (last successful round, current error) is kept for `/readyz`: a
  loop is healthy when its last round succeeded and the next one is not overdue.

`stop()` always ends: it lets a round in progress finish for up to its grace, then
cancels it, and never re-raises what a loop raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

from nexio_lite.errors import StoreUnavailable
from nexio_lite.logs import get_logger

T = TypeVar("T")

log = get_logger("nexio_lite.supervisor")

BACKOFF_START = 0.1
BACKOFF_CAP = 5.0
OVERDUE_GRACE_SECONDS = 5.0

Round = Callable[[], Awaitable[float | None]]


@attrs.frozen
class LoopHealth:
    """One loop as `/readyz` shows it."""

    ok: bool
    error: str | None = None
    failing_for_seconds: float | None = None
    last_round_seconds_ago: float | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": self.ok}
        if self.error is not None:
            out["error"] = self.error
        if self.failing_for_seconds is not None:
            out["failing_for_seconds"] = round(self.failing_for_seconds, 1)
        if self.last_round_seconds_ago is not None:
            out["last_round_seconds_ago"] = round(self.last_round_seconds_ago, 1)
        return out


def describe_error(exc: BaseException) -> str:
    """One line naming the error: its type and message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Loop:
    """One supervised loop: its round, its period and its wake-up."""

    def __init__(self, name: str, round_: Round, period: float, clock: Callable[[], float]):
        self.name = name
        self.round = round_
        self.period = period
        self.clock = clock
        self.started_at = clock()
        self.last_ok: float | None = None
        self.next_due = self.started_at + period
        self.error: str | None = None
        self.failing_since: float | None = None
        self.failures = 0
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Run the next round now (e.g. there is new work)."""
        self._wake.set()

    def health(self) -> LoopHealth:
        now = self.clock()
        ago = None if self.last_ok is None else now - self.last_ok
        if self.error is not None:
            since = None if self.failing_since is None else now - self.failing_since
            return LoopHealth(False, self.error, since, ago)
        if now > self.next_due + max(OVERDUE_GRACE_SECONDS, self.period):
            quiet = now - (self.started_at if self.last_ok is None else self.last_ok)
            return LoopHealth(False, f"no round completed for {quiet:.1f} s", None, ago)
        return LoopHealth(True, None, None, ago)

    def _succeeded(self, delay: float) -> None:
        now = self.clock()
        if self.error is not None:
            down = now - (self.failing_since or now)
            log.info("loop_recovered", loop=self.name, failures=self.failures,
                     down_seconds=round(down, 3))  # fmt: skip
        self.error = None
        self.failing_since = None
        self.failures = 0
        self.last_ok = now
        self.next_due = now + delay

    def _failed(self, exc: Exception) -> float:
        """Record a failed round; returns the backoff before the next one."""
        now = self.clock()
        self.failures += 1
        self.error = describe_error(exc)
        if self.failing_since is None:
            self.failing_since = now
            log.error("loop_failed", loop=self.name, error=self.error, exc_info=exc)
        backoff = min(BACKOFF_CAP, BACKOFF_START * 2 ** (self.failures - 1))
        delay = backoff * random.uniform(0.8, 1.2)
        self.next_due = now + delay
        return delay

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self._wake.clear()
            try:
                asked = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self._failed(exc)
            else:
                delay = self.period if asked is None else max(0.0, min(asked, self.period))
                self._succeeded(delay)
            if stopping.is_set():
                return
            await self._sleep(delay, stopping)

    async def _sleep(self, seconds: float, stopping: asyncio.Event) -> None:
        """Until woken, stopped, or `seconds` pass. (Not `asyncio.wait_for`: on Python
        3.11 it can swallow a cancellation that races with the wake-up.)"""
        if seconds <= 0 and not self._wake.is_set():
            await asyncio.sleep(0)
            return
        wake = asyncio.ensure_future(self._wake.wait())
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({wake, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            stop.cancel()


class Supervisor:
    """Starts loops, reports their health, and stops them all."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.loops: dict[str, Loop] = {}
        self._stopping = asyncio.Event()

    def start(self, name: str, round_: Round, period: float) -> Loop:
        """Run `round_` forever, at least every `period` seconds."""
        loop = Loop(name, round_, period, self.clock)
        loop.task = asyncio.create_task(loop.run(self._stopping), name=f"loop-{name}")
        self.loops[name] = loop
        return loop

    def health(self) -> dict[str, LoopHealth]:
        return {name: loop.health() for name, loop in self.loops.items()}

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop every loop: a round in progress gets `grace_seconds` to finish, then is
        cancelled. Never raises what a loop raised."""
        self._stopping.set()
        tasks = [loop.task for loop in self.loops.values() if loop.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)


async def persist(
    call: Callable[[], Awaitable[T]], what: str, stopping: Callable[[], bool], **fields: object
) -> T:
    """Run a store write that must not be lost (a job's result, a recorded webhook
    attempt): while the database is unavailable (a full disk), retry it with capped
    backoff, logging the streak once, until it succeeds. Gives up only when `stopping()`
    (the lease then runs out and the work is done again after the restart)."""
    failures = 0
    while True:
        try:
            result = await call()
        except StoreUnavailable as exc:
            failures += 1
            if failures == 1:
                log.error("write_waiting", what=what, error=describe_error(exc), **fields)
            if stopping():
                raise
            delay = min(BACKOFF_CAP, BACKOFF_START * 2 ** (failures - 1))
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            continue
        if failures:
            log.info("write_recovered", what=what, failures=failures, **fields)
        return result
