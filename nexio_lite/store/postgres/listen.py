"""Wake-ups across processes on PostgreSQL: LISTEN/NOTIFY behind the store's notifier.

A publication (`publish(topic, ids)`, called by the backend right after the commit that
made the work visible) reaches this process's subscribers at once, in process, exactly
as on SQLite. For the other processes it is queued and sent on one channel (`nexio`) as
payloads `sender:topic:id1,id2`; each store keeps one dedicated LISTEN connection that
hands the notifications of *other* stores (another sender id) to its subscribers.

Debounced, not transactional. A NOTIFY issued inside a write transaction takes a
database-wide lock at commit (the notification queue's), which serializes every
committing transaction that notifies: under load, commits would queue behind each other.
So writes never NOTIFY. The ids published are collected per topic and sent from a
background task in one `SELECT pg_notify(...) FROM unnest(...)` round trip (its own tiny
transaction on a pooled connection): at once when nothing was sent in the last
`FLUSH_SECONDS` (25 ms), otherwise at the end of that window. A wake-up thus reaches the
other processes a millisecond or two after the commit when the service is quiet, within
the window under load (where a shorter one measurably cost CPU: every flush is a
transaction, and every listener receives it), and never blocks one.

Payloads stay under PostgreSQL's 8000-byte limit: ids are split over several payloads,
and beyond `MAX_IDS` ids of one topic in one flush the payload carries no ids at all
(subscribers then get an empty list and re-check). A notification can be lost (a
process dies between its commit and the flush, the listener was reconnecting): waiters
also poll every `workers.poll_interval_seconds`, and after a reconnection every topic is
announced with an empty list. The listener reconnects with a capped backoff and logs
once per streak of failures (`store_listener_lost`, then `store_listener_restored`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import psycopg

from nexio_lite.logs import get_logger
from nexio_lite.models import random_id
from nexio_lite.store.notify import TOPICS, Announces, Callback, Notifier

log = get_logger("nexio_lite.store")

CHANNEL = "nexio"
FLUSH_SECONDS = 0.025
MAX_PAYLOAD_BYTES = 7900  # PostgreSQL refuses payloads of 8000 bytes or more
MAX_IDS = 1000  # ids of one topic in one flush; more are sent as a wake-up without ids
BACKOFF_START_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 2.0
# TCP keepalives, so that a listener whose peer vanished without a word notices it.
LISTENER_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
}  # fmt: skip

Pending = dict[str, set[str] | None]  # topic -> ids, or None: wake without ids
Send = Callable[[list[str]], Awaitable[None]]


def encode(sender: str, pending: Pending) -> list[str]:
    """The payloads announcing `pending`, each under MAX_PAYLOAD_BYTES."""
    out = []
    for topic, ids in sorted(pending.items()):
        head = f"{sender}:{topic}:"
        if not ids:
            out.append(head)
            continue
        chunk: list[str] = []
        size = len(head)
        for one in sorted(ids):
            n = len(one.encode()) + 1
            if chunk and size + n > MAX_PAYLOAD_BYTES:
                out.append(head + ",".join(chunk))
                chunk, size = [], len(head)
            chunk.append(one)
            size += n
        out.append(head + ",".join(chunk))
    return out


def decode(payload: str) -> tuple[str, str, list[str]] | None:
    """(sender, topic, ids) of a payload, or None when it is not one of ours."""
    parts = payload.split(":", 2)
    if len(parts) != 3 or parts[1] not in TOPICS:
        return None
    sender, topic, ids = parts
    return sender, topic, [i for i in ids.split(",") if i]


def _merge(into: Pending, topic: str, ids: Iterable[str] | None) -> None:
    """Add ids to what is pending for `topic` (None absorbs: a wake-up without ids)."""
    listed = None if ids is None else list(ids)
    if topic in into and into[topic] is None:
        return
    if not listed:
        into[topic] = None
        return
    current = into.setdefault(topic, set())
    assert current is not None
    current.update(listed)
    if len(current) > MAX_IDS:
        into[topic] = None


class PgNotifier(Announces):
    """The store's notifier on PostgreSQL: in-process subscribers, a debounced sender of
    NOTIFYs, and one LISTEN connection (see the module docstring)."""

    def __init__(self, url: str, connect_kwargs: dict[str, Any], send: Send) -> None:
        self.url = url
        self.connect_kwargs = connect_kwargs
        self.sender = random_id("", 12)
        self.local = Notifier()
        self._send = send
        self._pending: Pending = {}
        self._wake = asyncio.Event()
        self.listening = asyncio.Event()
        self._sender_task: asyncio.Task[None] | None = None
        self._listener_task: asyncio.Task[None] | None = None
        self._listen_failing = False
        self._listen_backoff = BACKOFF_START_SECONDS

    def subscribe(self, topic: str, callback: Callback) -> None:
        self.local.subscribe(topic, callback)

    def publish(self, topic: str, ids: Iterable[str]) -> None:
        """Announce committed work: this process's subscribers now, the others' soon."""
        listed = list(ids)
        self.local.publish(topic, listed)
        _merge(self._pending, topic, listed)
        self._wake.set()

    async def start(self, ready_seconds: float) -> None:
        """Start the sender and the listener; wait up to `ready_seconds` for LISTEN."""
        self._sender_task = asyncio.create_task(self._send_loop(), name="pg-notify-sender")
        self._listener_task = asyncio.create_task(self._listen_loop(), name="pg-listener")
        try:
            await asyncio.wait_for(self.listening.wait(), ready_seconds)
        except TimeoutError:
            log.warning("store_listener_not_ready", seconds=ready_seconds)

    async def stop(self, flush_seconds: float = 2.0) -> None:
        """Stop both tasks; send what is still pending (best effort)."""
        tasks = [t for t in (self._sender_task, self._listener_task) if t is not None]
        self._sender_task = self._listener_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._pending:
            pending, self._pending = self._pending, {}
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._send(encode(self.sender, pending)), flush_seconds)

    # ---- sending ---------------------------------------------------------------------

    def _restore(self, batch: Pending) -> None:
        for topic, ids in batch.items():
            _merge(self._pending, topic, ids)

    async def _send_loop(self) -> None:
        failing = False
        backoff = BACKOFF_START_SECONDS
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            batch, self._pending = self._pending, {}
            try:
                await self._send(encode(self.sender, batch))
            except asyncio.CancelledError:
                self._restore(batch)
                raise
            except Exception as exc:
                self._restore(batch)
                if not failing:
                    log.warning("store_notify_failed", error=str(exc), retry_in=backoff)
                    failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP_SECONDS)
                self._wake.set()
                continue
            if failing:
                log.info("store_notify_restored")
                failing, backoff = False, BACKOFF_START_SECONDS
            await asyncio.sleep(FLUSH_SECONDS)  # what arrives meanwhile goes in one flush

    # ---- listening -------------------------------------------------------------------

    def _dispatch(self, payload: str) -> None:
        decoded = decode(payload)
        if decoded is None or decoded[0] == self.sender:
            return
        _, topic, ids = decoded
        self.local.publish(topic, ids)

    async def _listen_once(self) -> None:
        """Connect, LISTEN and dispatch until the connection fails (it raises then)."""
        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, **self.connect_kwargs, **LISTENER_KEEPALIVES
        )
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            if self._listen_failing:
                log.info("store_listener_restored")
                self._listen_failing = False
                self._listen_backoff = BACKOFF_START_SECONDS
                for topic in TOPICS:  # what was sent meanwhile is lost: everyone re-checks
                    self.local.publish(topic, [])
            async for note in conn.notifies():
                self._dispatch(note.payload)
            raise psycopg.OperationalError("the notification stream ended")
        finally:
            self.listening.clear()
            with contextlib.suppress(Exception):
                await conn.close()

    async def _listen_loop(self) -> None:
        """Listen for ever; after a failure, reconnect with a capped backoff, logging once
        per streak of failures."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._listen_failing:
                    log.warning("store_listener_lost", error=str(exc).strip(),
                                retry_in=self._listen_backoff)  # fmt: skip
                    self._listen_failing = True
                await asyncio.sleep(self._listen_backoff)
                self._listen_backoff = min(self._listen_backoff * 2, BACKOFF_CAP_SECONDS)
