"""Group commit for the frequent writes (submits, completions, delivery attempts).

One batch of a kind is in flight at a time; the items submitted meanwhile go together in
the next one: one transaction and one statement per table (`unnest` of arrays), however
many callers. An item submitted while nothing is in flight starts at once, unless the
batcher is under load (its last batch carried several items, or several wait) and has a
`spacing`: then a batch starts no sooner than `spacing` seconds after the previous one
started, so that it carries more items (each transaction costs the database a commit,
whatever it carries; a lone caller never waits). If a batch fails, each of its items
runs again alone, so one bad write (a foreign key, a duplicate) fails alone and never
takes the others down with it; a database that cannot serve (StoreUnavailable) fails the
batch at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from nexio_lite.errors import StoreError, StoreUnavailable

I = TypeVar("I")  # noqa: E741 - an item, as T is a type
R = TypeVar("R")
MAX_BATCH = 500


class Batcher(Generic[I, R]):
    """Runs `run(items) -> results` (one transaction, one result per item in order) for
    the items waiting at that moment (under load, at most every `spacing` seconds)."""

    def __init__(
        self, run: Callable[[list[I]], Awaitable[list[R]]], name: str, spacing: float = 0.0
    ) -> None:
        self._run = run
        self._name = name
        self._spacing = spacing
        self._last_start = -spacing
        self._last_size = 0
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: I) -> R:
        """The item's result once its transaction committed (or its error)."""
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=f"pg-batch-{self._name}")
        return await fut

    async def close(self) -> None:
        """Wait for the items already submitted (the store closes after them)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            if self._last_size > 1 or len(self._pending) > 1:  # under load: gather more
                wait = self._last_start + self._spacing - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            self._last_start = loop.time()
            batch = self._pending[:MAX_BATCH]
            self._last_size = len(batch)
            del self._pending[:MAX_BATCH]
            try:
                await self._run_batch(batch)
            except BaseException as exc:  # never leave a caller waiting forever
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(StoreError(f"the write failed: {exc!r}"))
                if isinstance(exc, asyncio.CancelledError):
                    raise

    async def _run_batch(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except StoreUnavailable as exc:
            _fail_all(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail_all(batch, exc)
                return
            for item, fut in batch:
                await self._run_alone(item, fut)
            return
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _run_alone(self, item: I, fut: asyncio.Future[R]) -> None:
        try:
            (result,) = await self._run([item])
        except Exception as exc:
            if not fut.done():
                fut.set_exception(exc)
        else:
            if not fut.done():
                fut.set_result(result)


def _fail_all(batch: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, fut in batch:
        if not fut.done():
            fut.set_exception(exc)
