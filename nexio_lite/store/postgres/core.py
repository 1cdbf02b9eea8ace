"""The PostgreSQL backend's plumbing: the connection pool, migrations, transactions with
their retries, error translation, wake-ups and the scoring processes' pool reader.

Connections come from one `psycopg_pool.AsyncConnectionPool` per store (autocommit;
`pool_max` connections, 8 by default): a read is one statement on a pooled connection, a
write one statement (atomic by itself), one explicit transaction, or, for writes whose
statements need no answer from each other (submissions and completions together),
several statements sent at once in pipeline mode: one implicit transaction in one round
trip (`_write`). A transaction that a deadlock or a serialization failure rolled back
runs again at once; so does a read, or a write whose BEGIN met a dead pooled connection
(the server restarted) or that found it dead before sending anything: nothing had been
written. A connection lost during a write, or no connection within `pool_timeout`
seconds, is StoreUnavailable (a 503), as is any condition that passes (`errors.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from nexio_lite.errors import StoreError, StoreUnavailable
from nexio_lite.logs import get_logger
from nexio_lite.store.notify import Callback
from nexio_lite.store.postgres.errors import (
    RETRY_STATES,
    describe,
    is_connection_lost,
    translate_error,
)
from nexio_lite.store.postgres.listen import CHANNEL, PgNotifier
from nexio_lite.store.postgres.migrate import migrate

T = TypeVar("T")
Conn = AsyncConnection[TupleRow]


log = get_logger("nexio_lite.store")
# psycopg_pool warns at every failed connection attempt and every dead connection it
# drops; the store's callers (supervised loops, the listener) log a lost database once
# per streak instead.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

RETRIES = 3  # runs of one transaction after a deadlock or a dead pooled connection
PING_SECONDS = 3.0  # `problem()` waits this long for an answer
# The pool retries a lost connection with a backoff that doubles without a cap; giving
# each retry series up after this long makes the next request start a fresh one, so a
# server that is back is used again within seconds, not minutes.
RECONNECT_SECONDS = 5.0
REFUSAL_MEMORY_SECONDS = 5.0  # a refused write makes /readyz fail for this long
SEND_NOTIFY = "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p"
# A CTE for the writes that a crash of the database server may lose without harm,
# because the claim token guards what follows them (a claim, a lease renewal): their
# commit does not wait for the WAL to reach the disk (an fsync, ~3 ms here, that would
# otherwise sit on every claim's path). Set for the statement's own transaction only;
# the server still writes it within `wal_writer_delay`, and a crash of this process
# loses nothing. A statement using it names it in its FROM (`FROM ..., no_flush`).
NO_FLUSH = "no_flush AS (SELECT set_config('synchronous_commit', 'off', true))"
LOAD_POOL = "SELECT data FROM pool_versions WHERE org_id=%s AND pool_id=%s AND version=%s"


class Statement(NamedTuple):
    """One statement of a write sent at once (`PostgresBase._write`)."""

    query: str
    params: Sequence[Any] = ()
    # None: psycopg prepares a statement once it ran 5 times on a connection (PostgreSQL
    # may then plan it once for every run); False: never, so it is planned for its values.
    prepare: bool | None = None


def unstorable(*values: str) -> bool:
    """True when a value cannot be in a TEXT column (PostgreSQL refuses NUL characters,
    SQLite stores them): a lookup by it finds nothing, as it would on SQLite, instead of
    failing (a pool id with a NUL character in a request body is a 422, never a 500)."""
    return any("\x00" in v for v in values)


def _check_alive(conn: Conn) -> None:
    """Raise psycopg.OperationalError if the server ended this idle pooled connection (a
    restart, an administrator): its last message and the end of the stream wait unread
    on the socket. No round trip (a healthy idle connection has nothing to read), so a
    write sent at once can tell a connection that was dead before it from one lost
    during it, as a BEGIN would."""
    pgconn = conn.pgconn
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    for _ in range(3):  # a notice, then the end of the stream
        if not poller.poll(0):
            return
        pgconn.consume_input()  # raises at the end of the stream


async def _rollback(conn: Conn) -> None:
    """End the transaction left open by a failure; a broken connection is left to the
    pool, which discards it."""
    if conn.closed or conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    with contextlib.suppress(psycopg.Error):
        await conn.execute("ROLLBACK")


class PostgresBase:
    """Connections, lifecycle and the read/write plumbing the parts of the store share."""

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 8,
        connect_timeout: int = 5,
        pool_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._last_refusal: tuple[float, str] | None = None
        self.notifier = PgNotifier(url, {"connect_timeout": connect_timeout}, self._notify)

    def subscribe(self, topic: str, callback: Callback) -> None:
        """Call `callback(ids)` after work of `topic` is committed (store/notify.py): at
        once for this store's own commits, within a few milliseconds for other
        processes' (LISTEN/NOTIFY, see `listen.py`)."""
        self.notifier.subscribe(topic, callback)

    # ---- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, apply pending migrations (under an advisory lock: many processes may
        start at once on a fresh database), check that the database takes writes, open
        the connection pool and start listening. A database that cannot be reached,
        migrated or written fails here, at start, with StoreError naming it."""
        where = describe(self.url)
        try:
            conn = await AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=self.connect_timeout
            )
            async with conn:
                applied = await migrate(conn)
        except psycopg.Error as exc:
            reason = " ".join(str(translate_error(exc)).split())
            raise StoreError(f"cannot open database {where}: {reason}") from exc
        if applied:
            log.info("store_migrated", database=where, applied=applied)
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url,
            min_size=self.pool_min,
            max_size=self.pool_max,
            kwargs={"autocommit": True, "connect_timeout": self.connect_timeout},
            open=False,
            name="nexio",
            timeout=self.pool_timeout,
            reconnect_timeout=RECONNECT_SECONDS,
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout)
        except psycopg.Error as exc:
            await pool.close()
            reason = " ".join(str(exc).split())
            raise StoreError(f"cannot open database {where}: {reason}") from exc
        self._pool = pool
        await self.notifier.start(ready_seconds=self.connect_timeout)

    async def close(self) -> None:
        """Send pending wake-ups, stop listening, close the pool."""
        await self._close_batches()
        await self.notifier.stop()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _close_batches(self) -> None:
        """Wait for the writes already taken (the parts with batchers override this)."""

    async def ping(self) -> bool:
        return await self.problem() is None

    async def problem(self) -> str | None:
        """Why the database cannot serve now, or None: it does not answer within
        PING_SECONDS, or a write was refused for a passing reason (a full disk, a
        read-only database, a lost connection) in the last REFUSAL_MEMORY_SECONDS."""
        try:
            await asyncio.wait_for(self._read_one("SELECT 1"), PING_SECONDS)
        except TimeoutError:
            return f"the database did not answer within {PING_SECONDS:g} s"
        except StoreError as exc:
            return str(exc)
        refusal = self._last_refusal
        if refusal is not None and time.monotonic() - refusal[0] < REFUSAL_MEMORY_SECONDS:
            return f"a write was refused: {refusal[1]}"
        return None

    async def announce_others(self) -> None:
        """Nothing to do: other processes' commits arrive by LISTEN/NOTIFY."""

    async def backup(self, dest: str) -> int:
        """Not this backend's job: PostgreSQL has its own tools."""
        raise StoreError(
            f"backup copies a SQLite database; back PostgreSQL ({describe(self.url)}) up with "
            "pg_dump, e.g. pg_dump --format=custom --file=nexio.dump DBNAME"
        )

    async def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL keeps its own files (autovacuum, checkpoints)."""

    async def pool_blob(self, org_id: str, pool_id: str, version: int) -> bytes | None:
        if unstorable(pool_id):
            return None
        row = await self._read_one(LOAD_POOL, (org_id, pool_id, version))
        return None if row is None else bytes(row[0])

    # ---- plumbing --------------------------------------------------------------------

    async def _notify(self, payloads: list[str]) -> None:
        """Send NOTIFYs on the channel in one round trip (the notifier's sender)."""

        async def op(c: Conn) -> None:
            await c.execute(SEND_NOTIFY, (CHANNEL, payloads))

        await self._run(op, single=True)

    async def _run(
        self, fn: Callable[[Conn], Awaitable[T]], *, write: bool = True, single: bool = False
    ) -> T:
        """`fn(conn)` on a pooled connection: a read (`write=False`) as autocommit
        statements; a write in one explicit transaction, or (`single`) sent at once: one
        autocommit statement (atomic by itself) or one pipeline of statements (one
        implicit transaction, see `_write`), in one round trip. Runs again where nothing
        can have been written: a deadlock, a dead pooled connection met by a read or by
        BEGIN, or found dead before a write sent anything (`_check_alive`); psycopg's
        errors come out translated."""
        pool = self._pool
        if pool is None:
            raise StoreError("the store is not open")
        attempt = 0
        while True:
            attempt += 1
            wrote = False  # whether the failure may have come after something was written
            try:
                async with pool.connection() as conn:
                    if not write:
                        return await fn(conn)
                    _check_alive(conn)
                    if single:
                        wrote = True
                        return await fn(conn)
                    await conn.execute("BEGIN")
                    wrote = True
                    try:
                        result = await fn(conn)
                        await conn.execute("COMMIT")
                    except BaseException:
                        await _rollback(conn)
                        raise
                    return result
            except psycopg.Error as exc:
                lost = is_connection_lost(exc)
                if lost:  # drop the pool's other dead connections at once (bounded:
                    # a check that does not end in time is left to the pool's own upkeep)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(pool.check(), PING_SECONDS)
                retry = getattr(exc, "sqlstate", None) in RETRY_STATES or (lost and not wrote)
                if retry and attempt < RETRIES:
                    continue
                error = translate_error(exc)
                if write and isinstance(error, StoreUnavailable):
                    self._last_refusal = (time.monotonic(), str(error))
                raise error from exc

    async def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[TupleRow]:
        """One write statement, atomic by itself (autocommit): its rows (RETURNING)."""
        (rows,) = await self._write([Statement(sql, tuple(params))])
        return rows

    async def _write(self, statements: Sequence[Statement]) -> list[list[TupleRow]]:
        """The statements in one transaction, sent at once (one round trip): one statement
        alone, or several in pipeline mode, where the statements up to the pipeline's
        sync are one implicit transaction (a failure rolls them all back). The rows of
        each (none for a statement that returns none)."""

        async def send(c: Conn, st: Statement) -> psycopg.AsyncCursor[TupleRow]:
            return await c.execute(st.query, st.params, prepare=st.prepare)  # type: ignore[arg-type]

        async def op(c: Conn) -> list[psycopg.AsyncCursor[TupleRow]]:
            if len(statements) == 1:
                return [await send(c, statements[0])]
            async with c.pipeline():
                return [await send(c, st) for st in statements]

        cursors = await self._run(op, single=True)
        return [[] if cur.description is None else await cur.fetchall() for cur in cursors]

    async def _exec(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement, atomic by itself (autocommit): the rows it changed."""
        values = tuple(params)

        async def op(c: Conn) -> int:
            cur = await c.execute(sql, values)  # type: ignore[arg-type]
            return cur.rowcount

        return await self._run(op, single=True)

    async def _read(self, sql: str, params: Iterable[Any] = ()) -> list[TupleRow]:
        values = tuple(params)

        async def op(c: Conn) -> list[TupleRow]:
            cur = await c.execute(sql, values)  # type: ignore[arg-type]
            return await cur.fetchall()

        return await self._run(op, write=False)

    async def _read_one(self, sql: str, params: Iterable[Any] = ()) -> TupleRow | None:
        rows = await self._read(sql, params)
        return rows[0] if rows else None

    async def _count(self, table: str, status: str | None) -> int:
        """Rows of `table` (a name from this package, never from input), by status."""
        if status is None:
            row = await self._read_one(f"SELECT count(*) FROM {table}")
        else:
            row = await self._read_one(f"SELECT count(*) FROM {table} WHERE status=%s", (status,))
        return int(row[0]) if row else 0
