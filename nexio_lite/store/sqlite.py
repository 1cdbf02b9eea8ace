"""The SQLite backend of the Store protocol, on aiosqlite.

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

from nexio_lite.errors import Conflict, NotFound, StoreError
from nexio_lite.logs import get_logger
from nexio_lite.models import (
    ApiKey,
    Claim,
    Delivery,
    DeliveryAttempt,
    DeliveryClaim,
    DeliveryStatus,
    IdempotencyClaim,
    IdempotencyState,
    Job,
    JobStatus,
    NewJob,
    Org,
    PoolVersion,
    ReapReport,
    SweepCount,
    random_id,
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


async def _insert_jobs(
    c: aiosqlite.Connection, items: list[tuple[NewJob, tuple[str, str] | None]]
) -> list[None]:
    await c.executemany(
        "INSERT INTO jobs (id, org_id, type, status, request, pool_id, pool_version, "
        "webhook_url, created_at, updated_at) VALUES (?,?,?,'queued',?,?,?,?,?,?)",
        [(j.id, j.org_id, j.type, j.request, j.pool_id, j.pool_version, j.webhook_url,
          j.created_at, j.created_at) for j, _ in items],
    )  # fmt: skip
    keys = [(j.id, idem[1], j.org_id, idem[0]) for j, idem in items if idem is not None]
    if keys:
        await c.executemany(
            "UPDATE idempotency_keys SET job_id=?, response=? WHERE org_id=? AND key=?", keys
        )
    return [None] * len(items)


async def _held(c: aiosqlite.Connection, table: str, pairs: list[tuple[str, str]]) -> set[str]:
    """The ids among (id, token) pairs whose row still carries that claim token."""
    values = ",".join("(?, ?)" for _ in pairs)
    rows = await c.execute_fetchall(
        f"SELECT id FROM {table} WHERE (id, claim_token) IN (VALUES {values})",
        [x for pair in pairs for x in pair],
    )
    return {r[0] for r in rows}


async def _complete_jobs(
    c: aiosqlite.Connection,
    items: list[tuple[Claim, str, str | None, bytes | None, int, int]],
) -> list[bool]:
    """Complete the claimed jobs whose token still matches, and queue the delivery of
    those with a webhook URL, in the caller's transaction."""
    held = await _held(c, "jobs", [(claim.job.id, claim.token) for claim, *_ in items])
    kept = [item for item in items if item[0].job.id in held]
    await c.executemany(
        "UPDATE jobs SET status='completed', result=?, stages=?, candidates=?, completed_at=?, "
        "updated_at=?, lease_until=NULL, claim_token=NULL WHERE id=? AND status='processing'",
        [(result, stages, cands, now, now, claim.job.id)
         for claim, result, stages, cands, now, _ in kept],
    )  # fmt: skip
    for claim, _, _, _, now, deliver_at in kept:
        if claim.job.webhook_url:
            job = claim.job
            await _insert_delivery(c, job.id, job.org_id, job.webhook_url, now, deliver_at)
    return [item[0].job.id in held for item in items]


async def _record_attempts(
    c: aiosqlite.Connection,
    items: list[tuple[DeliveryClaim, DeliveryAttempt, DeliveryStatus, int | None]],
) -> list[bool]:
    held = await _held(c, "deliveries", [(claim.delivery.id, claim.token) for claim, *_ in items])
    kept = [item for item in items if item[0].delivery.id in held]
    await c.executemany(
        "UPDATE deliveries SET status=?, attempts=?, next_attempt_at=?, updated_at=?, "
        "lease_until=NULL, claim_token=NULL WHERE id=?",
        [(status.value, a.number, next_at, a.at + a.latency_ms, claim.delivery.id)
         for claim, a, status, next_at in kept],
    )  # fmt: skip
    await c.executemany(
        "INSERT INTO delivery_attempts (delivery_id, number, at, status_code, error, "
        "latency_ms, response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(claim.delivery.id, a.number, a.at, a.status_code, a.error, a.latency_ms,
          a.response_excerpt) for claim, a, _, _ in kept],
    )  # fmt: skip
    return [item[0].delivery.id in held for item in items]


async def _insert_delivery(
    c: aiosqlite.Connection, job_id: str, org_id: str, url: str, now: int, due: int
) -> str:
    """A new pending delivery (a new webhook-id) of the job's terminal state, due at `due`."""
    delivery_id = random_id("dlv_")
    await c.execute(
        "INSERT INTO deliveries (id, job_id, org_id, webhook_id, url, status, created_at, "
        "updated_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        (delivery_id, job_id, org_id, random_id("msg_", 24), url, now, now, due),
    )
    return delivery_id


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


class SqliteStore:
    """The Store protocol on one SQLite file."""

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

    # ---- organizations and keys ------------------------------------------------------

    async def create_org(self, org_id: str, webhook_secret: str, now: int) -> Org:
        async def op(c: aiosqlite.Connection) -> None:
            await c.execute(
                "INSERT INTO orgs (id, webhook_secret, created_at) VALUES (?, ?, ?)",
                (org_id, webhook_secret, now),
            )

        try:
            await self._write(op)
        except Conflict as exc:
            raise Conflict(f"organization {org_id!r} already exists") from exc
        return Org(org_id, webhook_secret, None, None, now)

    async def get_org(self, org_id: str) -> Org | None:
        row = await self._read_one(f"SELECT {ORG_COLUMNS} FROM orgs WHERE id=?", (org_id,))
        return Org(*row) if row else None

    async def rotate_org_secret(self, org_id: str, new_secret: str, now: int) -> Org:
        async def op(c: aiosqlite.Connection) -> Any:
            rows = await c.execute_fetchall(
                "UPDATE orgs SET previous_secret=webhook_secret, webhook_secret=?, "
                f"secret_rotated_at=? WHERE id=? RETURNING {ORG_COLUMNS}",
                (new_secret, now, org_id),
            )
            return list(rows)

        rows = await self._write(op)
        if not rows:
            raise Conflict(f"no organization {org_id!r}")
        return Org(*rows[0])

    async def create_key(self, key: ApiKey, key_hash: str) -> None:
        async def op(c: aiosqlite.Connection) -> None:
            await c.execute(
                "INSERT INTO api_keys (id, org_id, name, key_hash, scopes, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key.id, key.org_id, key.name, key_hash, ",".join(key.scopes), key.created_at),
            )

        await self._write(op)

    async def find_key(self, key_hash: str) -> ApiKey | None:
        row = await self._read_one(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash=?", (key_hash,)
        )
        return _key(row) if row else None

    async def list_keys(self, org_id: str) -> list[ApiKey]:
        rows = await self._read(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id=? ORDER BY created_at, id",
            (org_id,),
        )
        return [_key(r) for r in rows]

    async def revoke_key(self, key_id: str, now: int) -> bool:
        async def op(c: aiosqlite.Connection) -> int:
            cur = await c.execute(
                "UPDATE api_keys SET revoked_at=coalesce(revoked_at, ?) WHERE id=?",
                (now, key_id),
            )
            return cur.rowcount

        return bool(await self._write(op))

    async def touch_keys(self, last_used: dict[str, int]) -> None:
        if not last_used:
            return

        async def op(c: aiosqlite.Connection) -> None:
            await c.executemany(
                "UPDATE api_keys SET last_used_at=max(coalesce(last_used_at, 0), ?) WHERE id=?",
                [(t, k) for k, t in last_used.items()],
            )

        await self._write(op)

    # ---- pools -----------------------------------------------------------------------

    async def add_pool_version(
        self,
        org_id: str,
        pool_id: str,
        *,
        generator: str,
        size: int,
        as_of: str,
        sha256: str,
        data: bytes,
        now: int,
    ) -> PoolVersion:
        blob = zlib.compress(data, 6)

        async def op(c: aiosqlite.Connection) -> int:
            rows = await c.execute_fetchall(
                "SELECT coalesce(max(version), 0) + 1 FROM pool_versions "
                "WHERE org_id=? AND pool_id=?",
                (org_id, pool_id),
            )
            version = next(iter(rows))[0]
            await c.execute(
                f"INSERT INTO pool_versions ({POOL_COLUMNS}, data) VALUES (?,?,?,?,?,?,?,?,?)",
                (org_id, pool_id, version, generator, size, as_of, sha256, now, blob),
            )
            return int(version)

        version = await self._write(op)
        return PoolVersion(org_id, pool_id, version, generator, size, as_of, sha256, now)

    async def current_pool(self, org_id: str, pool_id: str) -> PoolVersion | None:
        row = await self._read_one(
            f"SELECT {POOL_COLUMNS} FROM pool_versions WHERE org_id=? AND pool_id=? "
            "ORDER BY version DESC LIMIT 1",
            (org_id, pool_id),
        )
        return PoolVersion(*row) if row else None

    async def get_pool_version(self, org_id: str, pool_id: str, version: int) -> PoolVersion | None:
        row = await self._read_one(
            f"SELECT {POOL_COLUMNS} FROM pool_versions WHERE org_id=? AND pool_id=? AND version=?",
            (org_id, pool_id, version),
        )
        return PoolVersion(*row) if row else None

    async def list_pools(self, org_id: str) -> list[PoolVersion]:
        rows = await self._read(
            f"SELECT {POOL_COLUMNS} FROM pool_versions p WHERE org_id=? AND version = "
            "(SELECT max(version) FROM pool_versions q "
            " WHERE q.org_id=p.org_id AND q.pool_id=p.pool_id) ORDER BY pool_id",
            (org_id,),
        )
        return [PoolVersion(*r) for r in rows]

    # ---- jobs ------------------------------------------------------------------------

    async def enqueue(self, job: NewJob, idempotency: tuple[str, str] | None = None) -> None:
        """Insert the job; committed when this returns. Concurrent submissions share one
        INSERT (executemany) and one commit. With `idempotency` = (key, response), the
        key taken with `begin_idempotent` records the job and its response in the same
        transaction."""
        await self._write(Batched(_insert_jobs, (job, idempotency)))

    async def get_job(self, org_id: str, job_id: str) -> Job | None:
        row = await self._read_one(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id=? AND org_id=?", (job_id, org_id)
        )
        return _job(row) if row else None

    async def claim(self, limit: int, lease_ms: int, now: int) -> list[Claim]:
        async def op(c: aiosqlite.Connection) -> list[Any]:
            return list(
                await c.execute_fetchall(
                    "UPDATE jobs SET status='processing', claim_token=lower(hex(randomblob(16))), "
                    "lease_until=?, attempts=attempts+1, started_at=?, updated_at=? "
                    "WHERE seq IN (SELECT seq FROM jobs WHERE status='queued' "
                    f"ORDER BY seq LIMIT ?) RETURNING {JOB_COLUMNS}",
                    (now + lease_ms, now, now, limit),
                )
            )

        rows = await self._write(op)
        jobs = sorted((_job(r) for r in rows), key=lambda j: j.seq)
        return [Claim(job, job.claim_token or "") for job in jobs]

    async def renew(self, claims: list[Claim], lease_ms: int, now: int) -> set[str]:
        if not claims:
            return set()
        tokens = [c.token for c in claims]

        async def op(c: aiosqlite.Connection) -> list[Any]:
            marks = ",".join("?" * len(tokens))
            return list(
                await c.execute_fetchall(
                    f"UPDATE jobs SET lease_until=? WHERE status='processing' "
                    f"AND claim_token IN ({marks}) RETURNING id",
                    (now + lease_ms, *tokens),
                )
            )

        return {r[0] for r in await self._write(op)}

    async def _finish(
        self,
        claim: Claim,
        sql: str,
        params: tuple[Any, ...],
        now: int,
        deliver_at: int | None = None,
    ) -> bool:
        """Apply `sql` to the claimed job while its token matches. With `deliver_at`, a
        job that has a webhook URL gets its delivery row in the same transaction."""
        job = claim.job

        async def op(c: aiosqlite.Connection) -> int:
            cur = await c.execute(
                sql + " WHERE id=? AND claim_token=? AND status='processing'",
                (*params, job.id, claim.token),
            )
            if cur.rowcount and deliver_at is not None and job.webhook_url:
                await _insert_delivery(c, job.id, job.org_id, job.webhook_url, now, deliver_at)
            return cur.rowcount

        return bool(await self._write(op))

    async def complete(
        self,
        claim: Claim,
        result: str,
        stages: str | None,
        now: int,
        deliver_at: int,
        candidates: bytes | None = None,
    ) -> bool:
        """Completions arriving together share three statements (see `_complete_jobs`)."""
        item = (claim, result, stages, candidates, now, deliver_at)
        return bool(await self._write(Batched(_complete_jobs, item)))

    async def fail(self, claim: Claim, error: str, now: int, deliver_at: int) -> bool:
        return await self._finish(
            claim,
            "UPDATE jobs SET status='failed', error=?, completed_at=?, updated_at=?, "
            "lease_until=NULL, claim_token=NULL",
            (error, now, now),
            now,
            deliver_at,
        )

    async def release(self, claim: Claim, now: int) -> bool:
        return await self._finish(
            claim,
            "UPDATE jobs SET status='queued', updated_at=?, lease_until=NULL, claim_token=NULL",
            (now,),
            now,
        )

    async def reap(self, now: int, max_attempts: int, deliver_at: int) -> ReapReport:
        async def op(c: aiosqlite.Connection) -> ReapReport:
            failed = await c.execute_fetchall(
                "UPDATE jobs SET status='failed', error=printf(?, attempts, attempts), "
                "completed_at=?, updated_at=?, lease_until=NULL, claim_token=NULL "
                "WHERE status='processing' AND lease_until < ? AND attempts >= ? "
                "RETURNING id, org_id, webhook_url",
                (ATTEMPTS_EXHAUSTED, now, now, now, max_attempts),
            )
            for job_id, org_id, url in failed:
                if url:
                    await _insert_delivery(c, job_id, org_id, url, now, deliver_at)
            requeued = await c.execute_fetchall(
                "UPDATE jobs SET status='queued', updated_at=?, lease_until=NULL, "
                "claim_token=NULL WHERE status='processing' AND lease_until < ? RETURNING id",
                (now, now),
            )
            return ReapReport(
                requeued=tuple(sorted(r[0] for r in requeued)),
                failed=tuple(sorted(r[0] for r in failed)),
            )

        return await self._write(op)

    async def count_jobs(self, status: str | None = None) -> int:
        if status is None:
            row = await self._read_one("SELECT count(*) FROM jobs")
        else:
            row = await self._read_one("SELECT count(*) FROM jobs WHERE status=?", (status,))
        return int(row[0]) if row else 0

    # ---- webhook deliveries ----------------------------------------------------------

    async def add_delivery(self, org_id: str, job_id: str, now: int) -> Delivery:
        """A new delivery (new webhook-id) of a terminal job, due now. Raises NotFound
        for an unknown job and Conflict when it is not terminal or has no webhook URL."""

        async def op(c: aiosqlite.Connection) -> str:
            rows = list(
                await c.execute_fetchall(
                    "SELECT status, webhook_url FROM jobs WHERE id=? AND org_id=?",
                    (job_id, org_id),
                )
            )
            if not rows:
                raise NotFound(f"Job '{job_id}' not found")
            status, url = rows[0]
            if status not in ("completed", "failed"):
                raise Conflict(f"Job '{job_id}' is {status}: only a finished job is delivered")
            if not url:
                raise Conflict(f"Job '{job_id}' has no webhook_url")
            return await _insert_delivery(c, job_id, org_id, url, now, now)

        delivery_id = await self._write(op)
        found = await self._read_one(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id=?", (delivery_id,)
        )
        return _delivery(found)

    async def list_deliveries(self, org_id: str, job_id: str) -> list[Delivery]:
        """The job's deliveries, oldest first, each with its attempts in order."""
        rows = await self._read(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE job_id=? AND org_id=? ORDER BY seq",
            (job_id, org_id),
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        history: dict[str, list[DeliveryAttempt]] = {i: [] for i in ids}
        for a in await self._read(
            "SELECT delivery_id, number, at, status_code, error, latency_ms, response_excerpt "
            f"FROM delivery_attempts WHERE delivery_id IN ({marks}) ORDER BY delivery_id, number",
            ids,
        ):
            history[a[0]].append(DeliveryAttempt(*a[1:]))
        return [attrs.evolve(_delivery(r), history=tuple(history[r[0]])) for r in rows]

    async def claim_deliveries(self, limit: int, now: int, lease_ms: int) -> list[DeliveryClaim]:
        """Take up to `limit` due pending deliveries whose previous attempt is not still
        in flight (an attempt lost in a crash is taken again once its lease expires)."""

        async def op(c: aiosqlite.Connection) -> list[Any]:
            return list(
                await c.execute_fetchall(
                    "UPDATE deliveries SET lease_until=?, claim_token=lower(hex(randomblob(16))) "
                    "WHERE seq IN (SELECT seq FROM deliveries WHERE status='pending' "
                    "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) "
                    "ORDER BY next_attempt_at LIMIT ?) "
                    f"RETURNING {DELIVERY_COLUMNS}, claim_token",
                    (now + lease_ms, now, now, limit),
                )
            )

        rows = await self._write(op)
        return [DeliveryClaim(_delivery(r[:-1]), r[-1]) for r in rows]

    async def next_delivery_due(self) -> int | None:
        """When the next pending delivery can be attempted (ms), or None when none is."""
        row = await self._read_one(
            "SELECT min(max(next_attempt_at, coalesce(lease_until, 0))) FROM deliveries "
            "WHERE status='pending'"
        )
        return None if row is None or row[0] is None else int(row[0])

    async def record_attempt(
        self,
        claim: DeliveryClaim,
        attempt: DeliveryAttempt,
        status: DeliveryStatus,
        next_attempt_at: int | None,
    ) -> bool:
        """Store one attempt and the delivery's new state, only while the claim holds.
        Attempts recorded at the same moment share three statements."""
        return bool(await self._write(Batched(_record_attempts, (claim, attempt, status,
                                                                  next_attempt_at))))  # fmt: skip

    async def get_jobs(self, job_ids: list[str]) -> dict[str, Job]:
        """Several jobs by id, whatever their organization (for the delivery loop, whose
        deliveries name their job)."""
        if not job_ids:
            return {}
        marks = ",".join("?" * len(job_ids))
        rows = await self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({marks})", job_ids)
        return {job.id: job for job in map(_job, rows)}

    async def count_deliveries(self, status: str | None = None) -> int:
        if status is None:
            row = await self._read_one("SELECT count(*) FROM deliveries")
        else:
            row = await self._read_one("SELECT count(*) FROM deliveries WHERE status=?", (status,))
        return int(row[0]) if row else 0

    # ---- listing -----------------------------------------------------------------------

    async def list_jobs(
        self,
        org_id: str,
        *,
        limit: int,
        status: str | None = None,
        job_type: str | None = None,
        before_seq: int | None = None,
    ) -> list[Job]:
        """The organization's jobs, newest first, without candidates; `before_seq` pages."""
        where, params = ["org_id=?"], [org_id]
        for column, value in (("status", status), ("type", job_type)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if before_seq is not None:
            where.append("seq<?")
            params.append(before_seq)
        columns = JOB_COLUMNS.replace("candidates", "NULL")
        rows = await self._read(
            f"SELECT {columns} FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
            [*params, limit],
        )
        return [_job(r) for r in rows]

    # ---- idempotency keys --------------------------------------------------------------

    async def begin_idempotent(
        self, org_id: str, key: str, request_hash: str, now: int, ttl_ms: int, stale_ms: int
    ) -> IdempotencyClaim:
        """Take the key for this request, or say why not. A key whose request never
        finished (a crash) is taken over after `stale_ms`; expired keys are forgotten."""

        async def op(c: aiosqlite.Connection) -> IdempotencyClaim:
            await c.execute(
                "DELETE FROM idempotency_keys WHERE org_id=? AND key=? AND expires_at<?",
                (org_id, key, now),
            )
            cur = await c.execute(
                "INSERT OR IGNORE INTO idempotency_keys (org_id, key, request_hash, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (org_id, key, request_hash, now, now + ttl_ms),
            )
            if cur.rowcount:
                return IdempotencyClaim(IdempotencyState.FRESH)
            rows = list(
                await c.execute_fetchall(
                    "SELECT request_hash, job_id, response, created_at FROM idempotency_keys "
                    "WHERE org_id=? AND key=?",
                    (org_id, key),
                )
            )
            stored_hash, job_id, response, created = rows[0]
            if stored_hash != request_hash:
                return IdempotencyClaim(IdempotencyState.REUSED)
            if response is not None:
                return IdempotencyClaim(IdempotencyState.REPLAY, response, job_id)
            if created < now - stale_ms:
                await c.execute(
                    "UPDATE idempotency_keys SET created_at=?, expires_at=? "
                    "WHERE org_id=? AND key=?",
                    (now, now + ttl_ms, org_id, key),
                )
                return IdempotencyClaim(IdempotencyState.FRESH)
            return IdempotencyClaim(IdempotencyState.IN_PROGRESS)

        return await self._write(op)

    async def abandon_idempotent(self, org_id: str, key: str) -> None:
        """Free a key whose request failed before a job was created (the client may fix
        the request and use the key again)."""

        async def op(c: aiosqlite.Connection) -> None:
            await c.execute(
                "DELETE FROM idempotency_keys WHERE org_id=? AND key=? AND job_id IS NULL",
                (org_id, key),
            )

        await self._write(op)

    async def purge_idempotency(self, now: int) -> int:
        async def op(c: aiosqlite.Connection) -> int:
            cur = await c.execute("DELETE FROM idempotency_keys WHERE expires_at<?", (now,))
            return cur.rowcount

        return int(await self._write(op))

    # ---- maintenance -------------------------------------------------------------------

    async def list_org_ids(self) -> list[str]:
        return [r[0] for r in await self._read("SELECT id FROM orgs ORDER BY id")]

    async def has_active_job(self, org_id: str, job_type: str) -> bool:
        row = await self._read_one(
            "SELECT 1 FROM jobs WHERE org_id=? AND type=? AND status IN ('queued', 'processing') "
            "LIMIT 1",
            (org_id, job_type),
        )
        return row is not None

    async def count_sweepable(self, org_id: str, cutoff: int) -> SweepCount:
        """The organization's terminal evaluation jobs, and those finished before cutoff."""
        row = await self._read_one(
            "SELECT count(*), coalesce(sum(completed_at < ?), 0) FROM jobs WHERE org_id=? "
            "AND type='evaluation' AND status IN ('completed', 'failed')",
            (cutoff, org_id),
        )
        return SweepCount(int(row[0]), int(row[1])) if row else SweepCount(0, 0)

    async def delete_swept(self, org_id: str, cutoff: int, limit: int) -> int:
        """Delete up to `limit` terminal evaluation jobs finished before cutoff, with their
        deliveries and attempts (one short write transaction)."""

        async def op(c: aiosqlite.Connection) -> int:
            cur = await c.execute(
                "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE org_id=? "
                "AND type='evaluation' AND status IN ('completed', 'failed') AND completed_at<? "
                "LIMIT ?)",
                (org_id, cutoff, limit),
            )
            return cur.rowcount

        return int(await self._write(op))

    async def job_metrics(self, org_id: str, since: int) -> dict[str, Any]:
        """Jobs per status created since `since`; p50/p95 duration (ms) of evaluations
        completed since then; the share of deliveries finished since then that succeeded."""
        by_status = dict.fromkeys(("queued", "processing", "completed", "failed"), 0)
        for status, n in await self._read(
            "SELECT status, count(*) FROM jobs WHERE org_id=? AND created_at>=? GROUP BY status",
            (org_id, since),
        ):
            by_status[status] = int(n)
        durations = [
            int(r[0])
            for r in await self._read(
                "SELECT completed_at - started_at AS d FROM jobs WHERE org_id=? "
                "AND type='evaluation' AND status='completed' AND completed_at>=? ORDER BY d",
                (org_id, since),
            )
        ]
        row = await self._read_one(
            "SELECT coalesce(sum(status='delivered'), 0), coalesce(sum(status='failed'), 0) "
            "FROM deliveries WHERE org_id=? AND updated_at>=? AND status!='pending'",
            (org_id, since),
        )
        delivered, failed = (int(row[0]), int(row[1])) if row else (0, 0)
        return {
            "jobs_by_status": by_status,
            "duration_ms_p50": _percentile(durations, 0.50),
            "duration_ms_p95": _percentile(durations, 0.95),
            "webhook_success_rate": (
                round(delivered / (delivered + failed), 4) if delivered + failed else None
            ),
            "webhooks_delivered": delivered,
            "webhooks_failed": failed,
        }


def _percentile(ordered: list[int], q: float) -> int | None:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not ordered:
        return None
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))
    return ordered[rank - 1]
