"""The SQLite backend's plumbing: connections, the writer task, migrations.

WAL, `synchronous=NORMAL`, a busy timeout, one writer connection and one reader
connection. Every write goes through one writer task that takes all the writes
waiting at that moment and runs them in one `BEGIN IMMEDIATE` transaction (group
commit, no waiting window): concurrent submits cost one commit, not one each.
"""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from collections.abc import Awaitable, Callable, Iterable
from importlib import resources
from typing import Any, TypeVar

import aiosqlite
import attrs

from nexio_lite.errors import Conflict, StoreError
from nexio_lite.logs import get_logger
from nexio_lite.models import (
    ApiKey,
    Delivery,
    DeliveryStatus,
    Job,
    JobStatus,
)

T = TypeVar("T")
log = get_logger("nexio_lite.store")
CHECKPOINT_SECONDS = 0.5
PlainOp = Callable[[aiosqlite.Connection], Awaitable[Any]]


@attrs.frozen
class Batched:
    """A write that can share one statement with others of its kind: all the `item`s of
    one `handler` waiting at the same moment go to one call (one thread hop, e.g. an
    `executemany`), which returns one result per item, in order."""

    handler: Callable[[aiosqlite.Connection, list[Any]], Awaitable[list[Any]]]
    item: Any


Op = PlainOp | Batched

JOB_COLUMNS = (
    "seq, id, org_id, type, status, request, created_at, updated_at, pool_id, pool_version, "
    "webhook_url, started_at, completed_at, attempts, lease_until, claim_token, result, "
    "error, stages, candidates"
)
POOL_COLUMNS = "org_id, pool_id, version, generator, size, as_of, sha256, created_at"
KEY_COLUMNS = "id, org_id, name, scopes, created_at, last_used_at, revoked_at"
ORG_COLUMNS = "id, webhook_secret, previous_secret, secret_rotated_at, created_at"
DELIVERY_COLUMNS = (
    "id, job_id, org_id, webhook_id, url, status, created_at, updated_at, next_attempt_at, attempts"
)

ATTEMPTS_EXHAUSTED = (
    '{"code":"attempts_exhausted","message":"The job was claimed %d times without finishing",'
    '"details":{"attempts":%d}}'
)


def _job(row: Iterable[Any]) -> Job:
    r = list(row)
    r[4] = JobStatus(r[4])
    return Job(*r)


def _delivery(row: Iterable[Any]) -> Delivery:
    r = list(row)
    r[5] = DeliveryStatus(r[5])
    return Delivery(*r)


def _key(row: Iterable[Any]) -> ApiKey:
    r = list(row)
    r[3] = tuple(s for s in r[3].split(",") if s)
    return ApiKey(*r)


async def _held(c: aiosqlite.Connection, table: str, pairs: list[tuple[str, str]]) -> set[str]:
    """The ids among (id, token) pairs whose row still carries that claim token."""
    values = ",".join("(?, ?)" for _ in pairs)
    rows = await c.execute_fetchall(
        f"SELECT id FROM {table} WHERE (id, claim_token) IN (VALUES {values})",
        [x for pair in pairs for x in pair],
    )
    return {r[0] for r in rows}


def migrations() -> list[tuple[int, str, str]]:
    """The numbered SQL files of `store/sql/`, in order: (number, name, sql)."""
    found = []
    for entry in resources.files("nexio_lite.store").joinpath("sql").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append((int(number), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found)


@attrs.frozen
class SqlitePoolLoader:
    """Reads pool data straight from the database file (used by scoring processes)."""

    path: str

    def load(self, org_id: str, pool_id: str, version: int) -> bytes:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute(
                "SELECT data FROM pool_versions WHERE org_id=? AND pool_id=? AND version=?",
                (org_id, pool_id, version),
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            raise StoreError(f"pool {org_id}/{pool_id} v{version} not found")
        return zlib.decompress(row[0])


class _Writer:
    """One task owns the write connection; callers hand it operations and await them.

    All operations waiting when the task wakes run in one transaction. If one of them
    raises, the transaction is rolled back and each is retried alone, so one bad write
    never takes another caller's write down with it.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqlite-writer")

    async def submit(self, op: Op) -> Any:
        if self._closing:
            raise StoreError("the store is closed")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        self._wake.set()
        return await fut

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                await self._run_batch(batch)
            if self._closing:
                return

    async def _run_batch(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._transaction([op for op, _ in batch])
        except Exception:
            if len(batch) == 1:
                op, fut = batch[0]
                await self._run_alone(op, fut)
                return
            for op, fut in batch:
                await self._run_alone(op, fut)
            return
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _run_alone(self, op: Op, fut: asyncio.Future[Any]) -> None:
        try:
            (result,) = await self._transaction([op])
        except Exception as exc:
            if not fut.done():
                fut.set_exception(_translate(exc))
        else:
            if not fut.done():
                fut.set_result(result)

    async def _transaction(self, ops: list[Op]) -> list[Any]:
        conn = self._conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            results = await self._apply(conn, ops)
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        return results

    @staticmethod
    async def _apply(conn: aiosqlite.Connection, ops: list[Op]) -> list[Any]:
        """Run the ops, the batched ones first, one call per handler."""
        results: list[Any] = [None] * len(ops)
        groups: dict[Any, list[int]] = {}
        for i, op in enumerate(ops):
            if isinstance(op, Batched):
                groups.setdefault(op.handler, []).append(i)
        for handler, positions in groups.items():
            items = [ops[i].item for i in positions]  # type: ignore[union-attr]
            for i, result in zip(positions, await handler(conn, items), strict=True):
                results[i] = result
        for i, op in enumerate(ops):
            if not isinstance(op, Batched):
                results[i] = await op(conn)
        return results


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(str(exc))
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"database error: {exc}")
    return exc


class SqliteBase:
    """Connections, lifecycle and the read/write plumbing the parts of the store share."""

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._wconn: aiosqlite.Connection | None = None
        self._rconn: aiosqlite.Connection | None = None
        self._cconn: aiosqlite.Connection | None = None
        self._writer: _Writer | None = None
        self._checkpointer: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self._wconn = await aiosqlite.connect(self.path, isolation_level=None)
            await self._pragmas(self._wconn)
            await self._wconn.execute("PRAGMA journal_mode=WAL")
            await self._migrate(self._wconn)
            # Commits never pay for a checkpoint (copying the WAL into the database and
            # syncing it): a connection of its own does that in the background.
            await self._wconn.execute("PRAGMA wal_autocheckpoint=0")
            self._rconn = await aiosqlite.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None
            )
            await self._pragmas(self._rconn)
            self._cconn = await aiosqlite.connect(self.path, isolation_level=None)
            await self._pragmas(self._cconn)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._writer = _Writer(self._wconn)
        self._writer.start()
        self._checkpointer = asyncio.create_task(self._checkpoints(), name="sqlite-checkpoint")

    async def _checkpoints(self) -> None:
        """Move committed WAL frames into the database file, off the commit path. PASSIVE
        never blocks the writer or the readers; frames still in use are left for the next
        round."""
        assert self._cconn is not None
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            try:
                await self._cconn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # e.g. a busy database: try again next round
                log.warning("sqlite_checkpoint_failed", error=str(exc))

    async def _pragmas(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {
            row[0] for row in await conn.execute_fetchall("SELECT version FROM schema_migrations")
        }
        for number, name, sql in migrations():
            if number in done:
                continue
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\n"
                f"INSERT INTO schema_migrations VALUES ({number}, '{name}', datetime('now'));\n"
                "COMMIT;"
            )

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            await asyncio.gather(self._checkpointer, return_exceptions=True)
            self._checkpointer = None
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        for conn in (self._rconn, self._cconn, self._wconn):
            if conn is not None:
                await conn.close()
        self._rconn = self._cconn = self._wconn = None

    async def ping(self) -> bool:
        try:
            await self._read_one("SELECT 1")
        except StoreError:
            return False
        return True

    def pool_loader(self) -> SqlitePoolLoader:
        return SqlitePoolLoader(self.path)

    # ---- plumbing --------------------------------------------------------------------

    async def _write(self, op: Op) -> Any:
        if self._writer is None:
            raise StoreError("the store is not open")
        return await self._writer.submit(op)

    async def _write_returning(self, sql: str, params: Iterable[Any]) -> list[Any]:
        """One write statement (with RETURNING) in the shared transaction: its rows."""
        values = tuple(params)

        async def op(c: aiosqlite.Connection) -> list[Any]:
            return list(await c.execute_fetchall(sql, values))

        return list(await self._write(op))

    async def _count(self, table: str, status: str | None) -> int:
        """Rows of `table` (a name from this package, never from input), by status."""
        if status is None:
            row = await self._read_one(f"SELECT count(*) FROM {table}")
        else:
            row = await self._read_one(f"SELECT count(*) FROM {table} WHERE status=?", (status,))
        return int(row[0]) if row else 0

    async def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        if self._rconn is None:
            raise StoreError("the store is not open")
        try:
            return list(await self._rconn.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}") from exc

    async def _read_one(self, sql: str, params: Iterable[Any] = ()) -> Any | None:
        rows = await self._read(sql, params)
        return rows[0] if rows else None
