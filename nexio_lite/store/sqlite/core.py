"""The SQLite backend's plumbing: connections, the writer task, migrations.

WAL, `synchronous=NORMAL`, a busy timeout, one writer connection and one reader
connection. Every write goes through one writer task that takes all the writes
waiting at that moment and runs them in one `BEGIN IMMEDIATE` transaction (group
commit, no waiting window): concurrent submits cost one commit, not one each. The one
exception: completions arriving in a steady stream wait up to 5 ms for one another
(`_Writer._linger`).

A write operation is a plain function of the `sqlite3.Connection`, and a whole
transaction (BEGIN, the operations, COMMIT) runs as one call in the write connection's
own thread: one hand-over between the event loop and that thread per transaction, not
one per statement (a hand-over costs ~50 us of the loop's CPU, a statement ~2 us).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import attrs

from nexio_lite.errors import Conflict, StoreError, StoreUnavailable
from nexio_lite.logs import get_logger
from nexio_lite.store.notify import Callback, Notifier
from nexio_lite.store.rows import (  # noqa: F401 - re-exported for the backend's modules
    DELIVERY_COLUMNS,
    JOB_COLUMNS,
    KEY_COLUMNS,
    ORG_COLUMNS,
    POOL_COLUMNS,
    delivery_from_row,
    job_from_row,
    key_from_row,
)

T = TypeVar("T")
log = get_logger("nexio_lite.store")
CHECKPOINT_SECONDS = 0.5
WAL_RESTART_BYTES = 16 * 1024 * 1024  # a WAL larger than this is restarted
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024  # a restarted WAL is cut back to this size
CHECKPOINT_BUSY_MS = 250  # how long a RESTART checkpoint waits for readers
ANNOUNCE_OVERLAP_MS = 2000  # see announce_others
REFUSAL_MEMORY_SECONDS = 5.0  # a refused write makes /readyz fail for this long
# Completions arriving on average less than STREAM_GAP_SECONDS apart wait up to
# LINGER_SECONDS for more to share their transaction, at most LINGER_BATCH in one
# (`_Writer._linger`).
LINGER_SECONDS = 0.005
LINGER_BATCH = 16
STREAM_GAP_SECONDS = 0.0015
# A write: run in the write connection's thread, inside the writer's transaction.
PlainOp = Callable[[sqlite3.Connection], Any]


@attrs.frozen
class Batched:
    """A write that can share one statement with others of its kind: all the `item`s of
    one `handler` waiting at the same moment go to one call (e.g. one `executemany`),
    which returns one result per item, in order."""

    handler: Callable[[sqlite3.Connection, list[Any]], list[Any]]
    item: Any
    # It may wait a moment for more of its kind (`_Writer._linger`): a write that only its
    # own caller waits for, such as a completion.
    linger: bool = False


Op = PlainOp | Batched

_job = job_from_row
_delivery = delivery_from_row
_key = key_from_row


def _fetchall(c: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> list[Any]:
    return c.execute(sql, tuple(params)).fetchall()


def _held(c: sqlite3.Connection, table: str, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (id, token) pairs whose row still carries that claim token. Looked up by id
    (its unique index) and the pairs compared here: SQLite answers a row-value
    `(id, claim_token) IN (VALUES ...)` by scanning the whole table."""
    ids = {row_id for row_id, _ in pairs}
    marks = ",".join("?" * len(ids))
    rows = _fetchall(c, f"SELECT id, claim_token FROM {table} WHERE id IN ({marks})", ids)
    return {(row_id, token) for row_id, token in rows} & set(pairs)


async def in_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """`fn(sqlite3_connection, *args)` run in `conn`'s own thread, as aiosqlite runs each
    of its calls. aiosqlite has no public way to run several statements in one call, so
    this uses its `_execute` (present from 0.17 to 0.22; pyproject.toml caps the range
    and the store tests exercise it on every write)."""
    raw: sqlite3.Connection = conn._conn
    result: T = await conn._execute(fn, raw, *args)
    return result


def _run_transaction(conn: sqlite3.Connection, ops: list[Op]) -> tuple[list[Any], bool]:
    """BEGIN IMMEDIATE, the ops, COMMIT (ROLLBACK when one raises); returns their results
    and whether anything was written. Runs in the write connection's thread."""
    _rollback_now(conn)  # a transaction left open by a failed ROLLBACK (a full disk)
    changes = conn.total_changes
    conn.execute("BEGIN IMMEDIATE")
    try:
        results = _apply(conn, ops)
        conn.execute("COMMIT")
    except BaseException:
        _rollback_now(conn)
        raise
    return results, conn.total_changes != changes


def _apply(conn: sqlite3.Connection, ops: list[Op]) -> list[Any]:
    """Run the ops, the batched ones first, one call per handler."""
    results: list[Any] = [None] * len(ops)
    groups: dict[Any, list[int]] = {}
    for i, op in enumerate(ops):
        if isinstance(op, Batched):
            groups.setdefault(op.handler, []).append(i)
    for handler, positions in groups.items():
        items = [ops[i].item for i in positions]  # type: ignore[union-attr]
        for i, result in zip(positions, handler(conn, items), strict=True):
            results[i] = result
    for i, op in enumerate(ops):
        if not isinstance(op, Batched):
            results[i] = op(conn)
    return results


def _rollback_now(conn: sqlite3.Connection) -> None:
    """End any open transaction; a ROLLBACK that fails (SQLite may already have rolled
    back after a full disk or an I/O error) is ignored. In the connection's thread."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def migrations() -> list[tuple[int, str, str]]:
    """The numbered SQL files of `store/sql/`, in order: (number, name, sql)."""
    found = []
    for entry in resources.files("nexio_lite.store").joinpath("sql").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append((int(number), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found)


async def _rollback(conn: aiosqlite.Connection) -> None:
    """`_rollback_now`, from the event loop."""
    await in_thread(conn, _rollback_now)


class _Writer:
    """One task owns the write connection; callers hand it operations and await them.

    All operations waiting when the task wakes run in one transaction. If one of them
    raises, the transaction is rolled back and each is retried alone, so one bad write
    never takes another caller's write down with it.
    """

    def __init__(self, conn: aiosqlite.Connection, busy_timeout_ms: int) -> None:
        self._conn = conn
        self.busy_timeout_ms = busy_timeout_ms
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._checkpoints: list[tuple[str, asyncio.Future[Any]]] = []
        self.commits = 0
        self.lingered = 0  # batches held back for more lingering writes
        self._linger_last = float("-inf")
        self._linger_gap = 4 * STREAM_GAP_SECONDS  # mean time between lingering writes
        # the last write refused for a passing reason (a full disk): when, and why
        self.last_refusal: tuple[float, str] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqlite-writer")

    async def submit(self, op: Op) -> Any:
        if self._closing:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if isinstance(op, Batched) and op.linger:
            now = loop.time()
            gap = min(now - self._linger_last, 4 * STREAM_GAP_SECONDS)  # (a pause: one gap)
            self._linger_gap += (gap - self._linger_gap) / 4
            self._linger_last = now
        self._pending.append((op, fut))
        self._wake.set()
        return await fut

    async def checkpoint(self, mode: str) -> tuple[int, int, int]:
        """Run `PRAGMA wal_checkpoint(mode)` on the write connection between two
        transactions; returns SQLite's (busy, log frames, checkpointed frames)."""
        if self._closing:
            raise StoreError("the store is closed")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._checkpoints.append((mode, fut))
        self._wake.set()
        return tuple(await fut)  # type: ignore[return-value]

    async def _run_checkpoints(self) -> None:
        todo, self._checkpoints = self._checkpoints, []
        conn = self._conn
        for mode, fut in todo:
            try:
                await conn.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
                try:
                    rows = await conn.execute_fetchall(f"PRAGMA wal_checkpoint({mode})")
                finally:
                    await conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(translate_error(exc))
            else:
                if not fut.done():
                    fut.set_result(tuple(next(iter(rows))))

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending or self._checkpoints:
                if self._checkpoints:
                    await self._run_checkpoints()
                    continue
                await self._linger()
                batch, self._pending = self._pending, []
                try:
                    await self._run_batch(batch)
                except BaseException as exc:  # never leave a caller waiting forever
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(StoreError(f"the write failed: {exc!r}"))
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    log.exception("sqlite_writer_error")
            if self._closing:
                return

    async def _linger(self) -> None:
        """Hold a batch of lingering writes alone for up to LINGER_SECONDS, or until
        LINGER_BATCH of them are in, while they arrive in a steady stream (on average
        less than STREAM_GAP_SECONDS apart), so that several share a transaction;
        any other write (a submit, a claim) ends the wait at once, as does a checkpoint
        or closing. A lone completion, or a trickle of them, never waits; nor does one
        that its caller did not mark as lingering (a completion is marked only while its
        worker has other jobs in flight: a next completion that waits on this one would
        find it held for the whole wait).

        Why: a transaction costs the event loop and the write thread about the same
        whatever it carries (the hand-overs, BEGIN and COMMIT, the pages it rewrites), and
        completions come one by one from the scoring processes, each just after the last
        commit. Scoring a full queue of 4,000 jobs, the write thread's CPU per job went
        from 206-240 µs to 135-162 µs (docs/benchmarks.md, "Completions in a stream")."""
        if self._linger_gap >= STREAM_GAP_SECONDS:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        held = False
        while (
            len(self._pending) < LINGER_BATCH
            and not (self._closing or self._checkpoints)
            and all(isinstance(op, Batched) and op.linger for op, _ in self._pending)
        ):
            if not held:
                held = True
                self.lingered += 1
            self._wake.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._wake.wait()
            except TimeoutError:
                break

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
            error = translate_error(exc)
            if isinstance(error, StoreUnavailable):
                self.last_refusal = (time.monotonic(), str(error))
            if not fut.done():
                fut.set_exception(error)
        else:
            if not fut.done():
                fut.set_result(result)

    async def _transaction(self, ops: list[Op]) -> list[Any]:
        results, wrote = await in_thread(self._conn, _run_transaction, ops)
        if wrote:
            self.commits += 1  # transactions that wrote something
        return results


# SQLite's primary result codes for failures that pass on their own (or when an operator
# acts): busy/locked, out of memory, read-only, I/O error, full disk, cannot open, protocol.
_TRANSIENT_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})


def translate_error(exc: BaseException) -> BaseException:
    """Our exception for a driver error: Conflict for a constraint, StoreUnavailable for
    a condition that passes (full disk, I/O error, locked, read-only), else StoreError."""
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(str(exc))
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _TRANSIENT_CODES:
            return StoreUnavailable(f"database unavailable: {exc}")
        return StoreError(f"database error: {exc}")
    return exc


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration file, one by one (SQLite's own idea of where
    a statement ends, so triggers and strings with semicolons are kept whole)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in current.splitlines()
    ):
        statements.append(current.strip())
    return statements


def _backup(source: str, dest: str) -> int:
    if os.path.exists(dest):
        raise StoreError(f"{dest} exists: give a new file name for the backup")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            # One step, one read snapshot: in WAL mode it holds up no writer, and a backup in
            # several steps would start over each time another connection writes.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
            (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StoreError(f"backup to {dest} failed: {exc}") from exc
    finally:
        src.close()
    if verdict != "ok":
        raise StoreError(f"the backup at {dest} does not check out: {verdict}")
    return os.stat(dest).st_size


def _check_writable(path: str) -> None:
    """A clear error for a database that cannot be written (SQLite would otherwise say
    only "unable to open database file", or fail at the first write)."""
    file = Path(path)
    folder = file.parent
    if file.exists() and not os.access(file, os.W_OK):
        raise StoreError(f"cannot open database {path}: the file is read-only")
    if folder.exists() and not os.access(folder, os.W_OK):
        raise StoreError(
            f"cannot open database {path}: its folder is read-only (SQLite writes the "
            "-wal and -shm files beside it)"
        )


class SqliteBase:
    """Connections, lifecycle and the read/write plumbing the parts of the store share."""

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._wconn: aiosqlite.Connection | None = None
        self._rconn: aiosqlite.Connection | None = None
        self._cconn: aiosqlite.Connection | None = None
        self._writer: _Writer | None = None
        self._commits_at_last_check = -1
        self._commits_at_truncate = -1
        self.notifier = Notifier()
        self._finished_mark: int | None = None

    def subscribe(self, topic: str, callback: Callback) -> None:
        """Call `callback(ids)` after this process commits work of `topic` (store/notify.py).
        Work committed by another process on the same file is announced only by
        `announce_others` (finished jobs); workers and the webhook sender also poll."""
        self.notifier.subscribe(topic, callback)

    async def announce_others(self) -> None:
        """Publish `finished` for the jobs that became terminal since the previous call
        (one indexed query; run every `workers.poll_interval_seconds`), so that a `?wait`
        long-poll on this process hears of a job that another process on the same file
        finished. A completion time is taken just before its commit, so each call looks
        `ANNOUNCE_OVERLAP_MS` further back than the newest it saw; jobs announced twice
        (and the ones this process finished) cost nothing: their waiters are gone."""
        if self._finished_mark is None:
            row = await self._read_one("SELECT max(completed_at) FROM jobs")
            self._finished_mark = int(row[0]) if row and row[0] is not None else 0
            return
        rows = await self._read(
            "SELECT id, completed_at FROM jobs WHERE completed_at > ?",
            (self._finished_mark - ANNOUNCE_OVERLAP_MS,),
        )
        if rows:
            self._finished_mark = max(self._finished_mark, max(int(r[1]) for r in rows))
            self.notifier.publish("finished", [r[0] for r in rows])

    # ---- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, migrate and check that the database can be written: a read-only or
        unreadable file fails here, at start, with StoreError naming the file."""
        _check_writable(self.path)
        try:
            self._wconn = await aiosqlite.connect(self.path, isolation_level=None)
            await self._pragmas(self._wconn)
            await self._wconn.execute("PRAGMA journal_mode=WAL")
            await self._migrate(self._wconn)
            await self._probe_write(self._wconn)
            # Commits never pay for a checkpoint (copying the WAL into the database and
            # syncing it): `checkpoint()`, run by a background loop, does that. A WAL that
            # was reset is cut back to JOURNAL_SIZE_LIMIT bytes.
            await self._wconn.execute("PRAGMA wal_autocheckpoint=0")
            await self._wconn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            self._rconn = await aiosqlite.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None
            )
            await self._pragmas(self._rconn)
            self._cconn = await aiosqlite.connect(self.path, isolation_level=None)
            await self._pragmas(self._cconn)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._writer = _Writer(self._wconn, self.busy_timeout_ms)
        self._writer.start()

    @staticmethod
    async def _probe_write(conn: aiosqlite.Connection) -> None:
        """A write that is rolled back: refused at once on a read-only database."""
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await conn.execute("UPDATE schema_migrations SET name = name")
        finally:
            await _rollback(conn)

    async def backup(self, dest: str) -> int:
        """SQLite's online backup into a new file `dest` (refused if it exists), then a
        quick check of the copy; readers and the writer keep working meanwhile."""
        return await asyncio.to_thread(_backup, self.path, dest)

    def wal_bytes(self) -> int:
        """The size of the write-ahead log file now (0 when there is none)."""
        try:
            return os.stat(f"{self.path}-wal").st_size
        except OSError:
            return 0

    async def checkpoint(self) -> None:
        """Keep the WAL small, off the commit path (run every `CHECKPOINT_SECONDS` by a
        supervised loop).

        PASSIVE copies committed frames into the database without blocking anyone, but
        under constant load the WAL is never *reset* (readers always hold a snapshot), so
        it would grow without bound. So when it passes `WAL_RESTART_BYTES`, or once the
        service has gone idle, a RESTART (TRUNCATE when idle) checkpoint runs in the
        writer task between two transactions: it waits briefly for readers, after which
        the next write starts the WAL again from its beginning and `journal_size_limit`
        cuts the file back (TRUNCATE empties it at once)."""
        if self._writer is None or self._cconn is None:
            raise StoreError("the store is not open")
        size = self.wal_bytes()
        commits = self._writer.commits
        idle = commits == self._commits_at_last_check
        self._commits_at_last_check = commits
        if size > WAL_RESTART_BYTES:
            await self._writer.checkpoint("RESTART")
        elif idle and size > 0 and commits != self._commits_at_truncate:
            await self._writer.checkpoint("TRUNCATE")
            self._commits_at_truncate = commits
        elif not idle:
            try:
                await self._cconn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                raise translate_error(exc) from exc

    async def _pragmas(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for number, name, sql in migrations():
            # Checked and applied in one write transaction: processes starting at once on
            # a fresh file apply each migration exactly once, one after the other.
            await conn.execute("BEGIN IMMEDIATE")
            try:
                done = await conn.execute_fetchall(
                    "SELECT 1 FROM schema_migrations WHERE version=?", (number,)
                )
                if not done:
                    for statement in _statements(sql):
                        await conn.execute(statement)
                    await conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))",
                        (number, name),
                    )
                await conn.execute("COMMIT")
            except BaseException:
                await _rollback(conn)
                raise

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        for conn in (self._rconn, self._cconn, self._wconn):
            if conn is not None:
                await conn.close()
        self._rconn = self._cconn = self._wconn = None

    async def ping(self) -> bool:
        return await self.problem() is None

    async def problem(self) -> str | None:
        """Why the database cannot serve now, or None: it does not answer a read, or a
        write was refused for a passing reason (a full disk) in the last
        `REFUSAL_MEMORY_SECONDS`."""
        try:
            await self._read_one("SELECT max(version) FROM schema_migrations")
        except StoreError as exc:
            return str(exc)
        refusal = self._writer.last_refusal if self._writer is not None else None
        if refusal is not None and time.monotonic() - refusal[0] < REFUSAL_MEMORY_SECONDS:
            return f"a write was refused: {refusal[1]}"
        return None

    async def pool_blob(self, org_id: str, pool_id: str, version: int) -> bytes | None:
        row = await self._read_one(
            "SELECT data FROM pool_versions WHERE org_id=? AND pool_id=? AND version=?",
            (org_id, pool_id, version),
        )
        return None if row is None else bytes(row[0])

    # ---- plumbing --------------------------------------------------------------------

    async def _write(self, op: Op) -> Any:
        if self._writer is None:
            raise StoreError("the store is not open")
        return await self._writer.submit(op)

    async def _write_returning(self, sql: str, params: Iterable[Any]) -> list[Any]:
        """One write statement (with RETURNING) in the shared transaction: its rows."""
        values = tuple(params)

        def op(c: sqlite3.Connection) -> list[Any]:
            return _fetchall(c, sql, values)

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
            raise translate_error(exc) from exc

    async def _read_one(self, sql: str, params: Iterable[Any] = ()) -> Any | None:
        rows = await self._read(sql, params)
        return rows[0] if rows else None
