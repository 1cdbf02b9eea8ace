"""Reference servers for the benchmark, each run as its own process by `bench_refs.py`.

    python scripts/bench_servers.py MODE [--port N] [--db PATH] [--normal]

Modes (HTTP ones answer GET /ready once they accept requests):

- `bare`: POST /jobs parses a small JSON body and answers 202 JSON; no database.
- `insert`: the same, plus one transaction per request: aiosqlite INSERT + COMMIT
  (WAL, synchronous=NORMAL), one request's transaction at a time on the shared
  connection. GET /stats gives {"commits", "rows"}.
- `autocommit`: one INSERT per request in autocommit mode (SQLite commits each
  statement), no lock: the requests' statements queue back to back on aiosqlite's thread.
- `group`: the same INSERT, but a writer task drains every pending insert at once
  into one `executemany` + one COMMIT (group commit, no waiting window); each
  request awaits its batch's commit. GET /stats gives {"commits", "rows"}.
- `receiver`: a webhook receiver answering 200 to any POST; GET /count gives
  {"count": deliveries received, "ids": distinct webhook-id values}, POST /reset
  zeroes both.
- `huey`: a huey consumer (SqliteHuey on --db, 2 worker processes) running the nexio
  pipeline; --normal sets `PRAGMA synchronous=NORMAL` on its connections (see
  `NormalSqliteStorage`). The enqueuing side builds the same instance with
  `make_huey(path, normal)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiosqlite
from aiohttp import web

from nexio_lite.jsontext import dumps
from nexio_lite.models import now_ms, random_id
from nexio_lite.verticals.carriers.evaluate import evaluate
from nexio_lite.verticals.carriers.pool import demo_pool_meta, generate_pool
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.request import parse_json_body, validate_request

HTTP_MODES = ("bare", "insert", "autocommit", "group", "receiver")
DB_MODES = ("insert", "autocommit", "group")
HUEY_NAME = "nexio-bench"
HUEY_WORKERS = 2
INSERT_SQL = "INSERT INTO jobs (id, request, created_at) VALUES (?, ?, ?)"
SCHEMA_SQL = (
    "CREATE TABLE IF NOT EXISTS jobs ("
    "seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, request TEXT NOT NULL, "
    "created_at INTEGER NOT NULL)"
)

STATS: web.AppKey[dict[str, int]] = web.AppKey("stats", dict)
Row = tuple[str, str, int]
Inserter = Callable[[Row], Any]


# ---- HTTP reference servers -------------------------------------------------------------


async def _ready(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _parse(request: web.Request) -> Row:
    """Parse the body as a JSON object: the row a submit would store."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text="body is not JSON") from exc
    if not isinstance(body, dict) or "profile" not in body:
        raise web.HTTPUnprocessableEntity(text="profile is required")
    return random_id("eval_"), dumps(body), now_ms()


def _accepted(job_id: str) -> web.Response:
    return web.json_response({"id": job_id, "status": "queued"}, status=202)


def _submit_handler(insert: Inserter | None) -> Callable[[web.Request], Any]:
    """POST /jobs: parse, then (unless `insert` is None) await the row's insert."""

    async def submit(request: web.Request) -> web.Response:
        row = await _parse(request)
        if insert is not None:
            await insert(row)
        return _accepted(row[0])

    return submit


async def _open_db(path: str, autocommit: bool = False) -> aiosqlite.Connection:
    """WAL, synchronous=NORMAL; `autocommit` makes each statement its own transaction."""
    db = await aiosqlite.connect(path, isolation_level=None if autocommit else "DEFERRED")
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute(SCHEMA_SQL)
    await db.commit()
    return db


def _stats_handler(app: web.Application) -> Callable[[web.Request], Any]:
    async def stats(_: web.Request) -> web.Response:
        return web.json_response(app[STATS])

    return stats


def insert_app(db_path: str, autocommit: bool = False) -> web.Application:
    """One transaction per request on one shared connection.

    Default: INSERT then COMMIT, one request's transaction at a time (an asyncio.Lock).
    Without the lock, concurrent requests' INSERTs land in whichever transaction is open
    (about 3 in 4 did at 64 in flight): an accidental, unsafe group commit, not one
    commit per request. With `autocommit`: a single INSERT statement per request, which
    SQLite commits by itself; requests queue on aiosqlite's thread without a lock."""
    app = web.Application()
    app[STATS] = {"commits": 0, "rows": 0}
    holder: dict[str, aiosqlite.Connection] = {}
    lock = asyncio.Lock()

    async def insert(row: Row) -> None:
        db = holder["db"]
        if autocommit:
            await db.execute(INSERT_SQL, row)
        else:
            async with lock:
                await db.execute(INSERT_SQL, row)
                await db.commit()
        app[STATS]["commits"] += 1
        app[STATS]["rows"] += 1

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        holder["db"] = await _open_db(db_path, autocommit)
        yield
        await holder["db"].close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/jobs", _submit_handler(insert))
    app.router.add_get("/stats", _stats_handler(app))
    return app


async def _group_writer(
    db: aiosqlite.Connection, queue: asyncio.Queue[Any], stats: dict[str, int]
) -> None:
    """Take every pending insert at once, write them in one transaction, resolve them."""
    while True:
        batch = [await queue.get()]
        while not queue.empty():
            batch.append(queue.get_nowait())
        try:
            await db.executemany(INSERT_SQL, [row for row, _ in batch])
            await db.commit()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await db.rollback()
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            continue
        stats["commits"] += 1
        stats["rows"] += len(batch)
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)


def group_app(db_path: str) -> web.Application:
    """Inserts of all concurrent requests share one transaction (group commit)."""
    app = web.Application()
    app[STATS] = {"commits": 0, "rows": 0}
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def insert(row: Row) -> None:
        fut = asyncio.get_running_loop().create_future()
        queue.put_nowait((row, fut))
        await fut

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        db = await _open_db(db_path)
        writer = asyncio.create_task(_group_writer(db, queue, app[STATS]))
        yield
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await db.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/jobs", _submit_handler(insert))
    app.router.add_get("/stats", _stats_handler(app))
    return app


def bare_app() -> web.Application:
    """Parse the JSON body and answer 202: the HTTP + JSON floor."""
    app = web.Application()
    app.router.add_post("/jobs", _submit_handler(None))
    return app


def receiver_app() -> web.Application:
    """Count POSTs and distinct `webhook-id` headers; answer 200 with an empty body."""
    app = web.Application()
    seen: set[str] = set()
    counter = [0]

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        counter[0] += 1
        seen.add(request.headers.get("webhook-id", ""))
        return web.Response()

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"count": counter[0], "ids": len(seen - {""})})

    async def reset(_: web.Request) -> web.Response:
        counter[0] = 0
        seen.clear()
        return web.json_response({"count": 0, "ids": 0})

    app.router.add_get("/count", count)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", hook)
    return app


def build_app(mode: str, db_path: str | None) -> web.Application:
    if mode in DB_MODES and not db_path:
        raise SystemExit(f"mode {mode} needs --db")
    apps: dict[str, Callable[[], web.Application]] = {
        "bare": bare_app,
        "insert": lambda: insert_app(db_path or ""),
        "autocommit": lambda: insert_app(db_path or "", autocommit=True),
        "group": lambda: group_app(db_path or ""),
        "receiver": receiver_app,
    }
    app = apps[mode]()
    app.router.add_get("/ready", _ready)
    return app


# ---- the huey peer ------------------------------------------------------------------------

_POOL: list[PreparedPool] = []


def prepared_pool() -> PreparedPool:
    """The demo pool, generated and prepared once per process."""
    if not _POOL:
        carriers = generate_pool()
        _POOL.append(prepare_pool(demo_pool_meta(carriers), carriers))
    return _POOL[0]


def request_body(profile: dict[str, Any]) -> str:
    """The body a client would POST for `profile` (what a huey task receives)."""
    return json.dumps({"profile": profile, "pool": "carriers:all"})


def evaluate_request(body: str) -> tuple[str, str]:
    """The nexio pipeline on one request body: parse it as nexio parses a POST body,
    validate it, evaluate it on the demo pool, and serialize as nexio does:
    (counts JSON, candidates JSON)."""
    request = validate_request(parse_json_body(body.encode()))
    if isinstance(request, list):
        raise ValueError(f"invalid request: {[d.to_dict() for d in request]}")
    ev = evaluate(prepared_pool(), request.profile, request.options)
    counts = {"pool_size": ev.pool_size, "filtered": ev.filtered, "passed": ev.passed}
    return dumps(counts), dumps(ev.candidates)


def make_huey(path: str, normal: bool) -> tuple[Any, Any]:
    """(huey instance, task) for a SqliteHuey on `path`: huey's defaults (WAL, and
    SQLite's default synchronous, FULL), or with `synchronous=NORMAL` on every connection
    when `normal`. SqliteHuey's storage only takes `fsync=True` (FULL) or `False` (OFF),
    so NORMAL comes from a storage subclass whose `_create_connection` runs the pragma,
    and a SqliteHuey subclass naming it as `storage_class`. Both the consumer and the
    enqueuing process build the instance this way (huey finds a task by module and name).
    huey is imported here: it is only needed for this peer."""
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    class NormalSqliteStorage(SqliteStorage):
        """huey's SqliteStorage only offers fsync=True (FULL) / False (OFF)."""

        def _create_connection(self) -> sqlite3.Connection:
            conn: sqlite3.Connection = super()._create_connection()
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

    class NormalSqliteHuey(SqliteHuey):
        storage_class = NormalSqliteStorage

    huey = (NormalSqliteHuey if normal else SqliteHuey)(HUEY_NAME, filename=path)
    huey.on_startup()(prepared_pool)
    task = huey.task(name="evaluate_request")(evaluate_request)
    return huey, task


def run_huey(path: str, normal: bool) -> None:
    """Run the consumer like `huey_consumer -k process -w 2`: 2 forked worker processes,
    huey's other defaults (0.1 s first poll delay, backoff 1.15, scheduler on)."""
    logging.basicConfig(level=logging.WARNING)
    huey, _ = make_huey(path, normal)
    huey.create_consumer(workers=HUEY_WORKERS, worker_type="process").run()


# ---- entry point ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=[*HTTP_MODES, "huey"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", default=None)
    parser.add_argument("--normal", action="store_true", help="huey: synchronous=NORMAL")
    args = parser.parse_args(argv)
    if args.mode == "huey":
        if not args.db:
            raise SystemExit("mode huey needs --db")
        run_huey(args.db, args.normal)
        return
    app = build_app(args.mode, args.db)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    # Run as the module `bench_servers`, not `__main__`: huey names a task by its
    # function's module, which must match in the consumer and the enqueuing process.
    import bench_servers

    bench_servers.main()
