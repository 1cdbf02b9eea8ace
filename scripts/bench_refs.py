"""Reference figures measured in the same run as nexio_lite, for the ratios of the table.

Each reference server is its own process on 127.0.0.1 (`scripts/bench_servers.py`),
driven from this process with aiohttp, so the load generator never shares a process
with what it measures. Every load loop is bounded in count and in time.

- `ceiling_bare`, `ceiling_insert`, `ceiling_group_commit`: requests/s and latency of a
  minimal aiohttp JSON POST handler with no database, with one INSERT + COMMIT per
  request, and with group commit (the floor of a submit).
- `ceiling_webhook_client`: deliveries/s of a bare aiohttp client sending signed 2 KB
  Standard Webhooks deliveries to a local receiver (`start_receiver`, shareable with
  nexio_lite's own webhook measurement).
- `peer_huey`: end-to-end tasks/s of huey (SqliteHuey, 2 worker processes) running the
  same pipeline function, with huey's defaults and with `synchronous=NORMAL`.
- `claim_latency`: the cost of `SqliteStore.claim` with a small and a large queued backlog.
- `pg_claim_throughput`: jobs claimed and completed per second by 4 OS processes, each
  driving `PostgresStore` directly (no HTTP, no scoring: a no-op job) on one database.
- `pg_wakeup_latency`: enqueue in one process -> the `jobs` subscriber's callback in
  another (LISTEN/NOTIFY), p50/p99.
- `postgres_database`: a fresh PostgreSQL database for one measurement, dropped after.
- `cpu_calibration`: a fixed pure-Python loop, to tell a slow phase of the machine.

Run alone: `.venv/bin/python scripts/bench_refs.py [PIECE ...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from nexio_lite.jsontext import dumps
from nexio_lite.logs import configure as configure_logs
from nexio_lite.models import NewJob, now_ms, random_id
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.webhooks.signing import new_secret, new_webhook_id, webhook_headers

SCRIPTS = Path(__file__).resolve().parent
SERVERS = SCRIPTS / "bench_servers.py"
SUBMIT_BODY = json.dumps(
    {"profile": {"entity": "acme-manufacturing", "state": "CA",
                 "line": "professional_liability", "revenue": 12000000},
     "pool": "carriers:all"}
).encode()  # fmt: skip
JSON_HEADERS = {"Content-Type": "application/json"}
WEBHOOK_BODY_BYTES = 2048
WARM_SECONDS = 0.5
WARM_REQUESTS = 500
MAX_RATE = 50_000  # the count bound of a load loop: seconds * MAX_RATE requests at most
READY_SECONDS = 20.0

MakeRequest = Callable[[int], tuple[bytes, dict[str, str]]]


# ---- helpers ------------------------------------------------------------------------------


def pct(xs: Sequence[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start `python scripts/bench_servers.py ARGS` in its own session, output to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(SERVERS), *args],
            stdout=out,
            stderr=out,
            cwd=SCRIPTS.parent,
            start_new_session=True,
        )


def _terminate(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds, to the process's group (its own
    session, so the group id is its pid): huey's worker processes are stopped with it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)


def _log_tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll GET {url}/ready until it answers 200 (READY_SECONDS at most)."""
    stop_at = time.perf_counter() + READY_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.perf_counter() < stop_at and proc.poll() is None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{url}/ready") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"reference server {url} did not start:\n{_log_tail(log)}")


@contextlib.asynccontextmanager
async def serving(mode: str) -> AsyncIterator[str]:
    """A `bench_servers.py MODE` process with a fresh database in a temp dir; yields its
    base URL and stops it on exit."""
    with tempfile.TemporaryDirectory(prefix="nexio-ref-") as tmp:
        port = free_port()
        log = Path(tmp) / "server.log"
        proc = _spawn([mode, "--port", str(port), "--db", str(Path(tmp) / "ref.db")], log)
        url = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(url, proc, log)
            yield url
        finally:
            _terminate(proc)


async def _get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return await r.json()


# ---- the load loop ------------------------------------------------------------------------


async def drive(
    url: str,
    make: MakeRequest,
    seconds: float,
    concurrency: int,
    max_requests: int,
    expect: int,
) -> dict[str, Any]:
    """POST to `url` with `concurrency` requests in flight until `seconds` have passed
    or `max_requests` were sent; each answer must have status `expect`. Returns the
    count, the elapsed time, requests/s and the p50/p99 latency in ms."""
    latencies: list[float] = []
    sent = [0]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        t0 = time.perf_counter()
        stop_at = t0 + seconds

        async def one_slot() -> None:
            while time.perf_counter() < stop_at and sent[0] < max_requests:
                i = sent[0]
                sent[0] += 1
                body, headers = make(i)
                t = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status != expect:
                        raise RuntimeError(f"{url} answered {r.status}, expected {expect}")
                latencies.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(one_slot() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(latencies, 0.5), 2),
        "p99_ms": round(pct(latencies, 0.99), 2),
        "concurrency": concurrency,
    }


def _submit_request(_: int) -> tuple[bytes, dict[str, str]]:
    return SUBMIT_BODY, JSON_HEADERS


async def _ceiling(mode: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """Warm, then measure POST /jobs of the `mode` reference server: rps, requests,
    seconds, p50_ms, p99_ms, concurrency; with a database also commits and
    rows_per_commit (checked against the requests answered)."""
    async with serving(mode) as base:
        url = f"{base}/jobs"
        await drive(url, _submit_request, WARM_SECONDS, concurrency, WARM_REQUESTS, 202)
        stats_before = await _get_json(f"{base}/stats") if mode != "bare" else None
        out = await drive(url, _submit_request, seconds, concurrency, int(seconds * MAX_RATE), 202)
        if stats_before is not None:
            stats = await _get_json(f"{base}/stats")
            commits = stats["commits"] - stats_before["commits"]
            rows = stats["rows"] - stats_before["rows"]
            if rows != out["requests"]:
                raise RuntimeError(f"{mode}: {rows} rows for {out['requests']} requests")
            out["commits"] = commits
            out["rows_per_commit"] = round(rows / max(commits, 1), 2)
    return {"rps": out.pop("per_s"), **out}


async def ceiling_bare(seconds: float, concurrency: int = 64) -> dict[str, Any]:
    """requests/s and p50/p99 ms of a bare aiohttp POST handler that parses a small JSON
    body and answers 202 JSON (no database): the HTTP floor on this machine."""
    return await _ceiling("bare", seconds, concurrency)


async def ceiling_insert(
    seconds: float, concurrency: int = 64, autocommit: bool = False
) -> dict[str, Any]:
    """requests/s and p50/p99 ms of the same handler doing one transaction per request
    (aiosqlite, WAL, synchronous=NORMAL): INSERT + COMMIT, one request's transaction at a
    time on the shared connection. With `autocommit`: one INSERT statement that SQLite
    commits by itself, no lock (still one commit per request, but the statements of
    concurrent requests queue back to back on aiosqlite's thread)."""
    return await _ceiling("autocommit" if autocommit else "insert", seconds, concurrency)


async def ceiling_group_commit(seconds: float, concurrency: int = 64) -> dict[str, Any]:
    """requests/s and p50/p99 ms of the same handler with group commit: a writer task
    drains all pending inserts into one executemany + one COMMIT (no waiting window);
    also `rows_per_commit`, the mean batch."""
    return await _ceiling("group", seconds, concurrency)


# ---- webhooks -----------------------------------------------------------------------------


async def start_receiver() -> tuple[str, Callable[[], None]]:
    """Start a webhook receiver process; returns (delivery URL, stop). It answers 200 to
    any POST and counts deliveries and distinct webhook-ids: see `receiver_counts`."""
    tmp = tempfile.TemporaryDirectory(prefix="nexio-ref-recv-")
    port = free_port()
    log = Path(tmp.name) / "receiver.log"
    proc = _spawn(["receiver", "--port", str(port)], log)
    base = f"http://127.0.0.1:{port}"

    def stop() -> None:
        _terminate(proc)
        tmp.cleanup()

    try:
        await _wait_ready(base, proc, log)
    except BaseException:
        stop()
        raise
    return f"{base}/hook", stop


def _receiver_base(url: str) -> str:
    return url.rsplit("/", 1)[0]


async def receiver_counts(url: str) -> dict[str, int]:
    """{"count": deliveries received, "ids": distinct webhook-ids} of the receiver at
    `url` (the delivery URL `start_receiver` returned)."""
    return dict(await _get_json(f"{_receiver_base(url)}/count"))


async def receiver_reset(url: str) -> None:
    """Zero the receiver's counts."""
    async with aiohttp.ClientSession() as http, http.post(f"{_receiver_base(url)}/reset") as r:
        await r.read()


def _webhook_body(msg_id: str, ts: int, pad: str) -> bytes:
    data = {"id": msg_id, "status": "completed", "padding": pad}
    return dumps({"type": "evaluation.completed", "timestamp": ts, "data": data}).encode()


def _webhook_maker(secret: str) -> MakeRequest:
    """Each delivery: a fresh webhook-id, a WEBHOOK_BODY_BYTES JSON body, signed headers."""
    bare = len(_webhook_body(new_webhook_id(), int(time.time()), ""))
    pad = "x" * (WEBHOOK_BODY_BYTES - bare)

    def make(_: int) -> tuple[bytes, dict[str, str]]:
        msg_id = new_webhook_id()
        ts = int(time.time())
        body = _webhook_body(msg_id, ts, pad)
        return body, webhook_headers([secret], msg_id, ts, body, "nexio-bench-refs")

    return make


async def ceiling_webhook_client(n: int, seconds: float, concurrency: int = 16) -> dict[str, Any]:
    """deliveries/s of a bare aiohttp client sending `n` signed 2 KB Standard Webhooks
    deliveries (HMAC-SHA256, a fresh webhook-id each) to a local receiver process,
    `concurrency` in flight, bounded by `seconds`; checked against the receiver's count."""
    url, stop = await start_receiver()
    try:
        make = _webhook_maker(new_secret())
        await drive(url, make, WARM_SECONDS, concurrency, min(n, WARM_REQUESTS), 200)
        await receiver_reset(url)
        out = await drive(url, make, seconds, concurrency, n, 200)
        counts = await receiver_counts(url)
    finally:
        stop()
    if counts["count"] != out["requests"] or counts["ids"] != out["requests"]:
        raise RuntimeError(f"receiver counted {counts} for {out['requests']} deliveries")
    out.update(received=counts["count"], body_bytes=len(make(0)[0]))
    return {"deliveries_per_s": out.pop("per_s"), **out}


# ---- the huey peer ------------------------------------------------------------------------


def _scripts_on_path() -> None:
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))


def _default_profiles() -> list[dict[str, Any]]:
    """bench.py's profile mix, imported late: bench.py imports this module."""
    _scripts_on_path()
    from bench import PROFILES

    return list(PROFILES)


def _kv_count(path: str, queue: str) -> int:
    """Results stored by huey so far (its `kv` table), read without huey."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM kv WHERE queue=?", (queue,)).fetchone()[0])
    finally:
        conn.close()


SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def peer_huey(
    n: int,
    sqlite_normal: bool,
    seconds: float,
    profiles: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """End-to-end tasks/s of huey running the nexio pipeline: SqliteHuey on a fresh file
    (huey's defaults, or synchronous=NORMAL), a consumer process with 2 worker processes
    (`-k process -w 2`); `n` tasks of the profile mix enqueued from this process, timed
    from the first enqueue to the last result stored; bounded by `seconds`."""
    _scripts_on_path()
    import bench_servers

    try:
        import huey as huey_pkg
    except ImportError as exc:
        raise RuntimeError("peer_huey needs huey: .venv/bin/pip install huey") from exc

    mix = [
        bench_servers.request_body(p)
        for p in (profiles if profiles is not None else _default_profiles())
    ]
    with tempfile.TemporaryDirectory(prefix="nexio-ref-huey-") as tmp:
        path = str(Path(tmp) / "huey.db")
        huey, task = bench_servers.make_huey(path, sqlite_normal)
        sync = SYNC_NAMES.get(huey.storage.conn.execute("PRAGMA synchronous").fetchone()[0])
        args = ["huey", "--db", path, *(["--normal"] if sqlite_normal else [])]
        proc = _spawn(args, Path(tmp) / "consumer.log")
        try:
            _huey_warm(task, mix)
            out = _huey_measure(task, path, huey.name, mix, n, seconds)
            last = task(mix[0]).get(blocking=True, timeout=60)
        finally:
            _terminate(proc)
            huey.storage.close()
    if tuple(last) != bench_servers.evaluate_request(mix[0]):
        raise RuntimeError("huey's result differs from the in-process pipeline")
    out.update(huey=huey_pkg.__version__, synchronous=sync, workers=bench_servers.HUEY_WORKERS)
    return out


def _huey_warm(task: Any, mix: Sequence[str], count: int = 20, seconds: float = 120.0) -> None:
    """Run `count` tasks to the end: the consumer is up and each worker holds the pool."""
    stop_at = time.perf_counter() + seconds
    results = [task(mix[i % len(mix)]) for i in range(count)]
    for r in results:
        left = max(stop_at - time.perf_counter(), 0.01)
        counts, candidates = r.get(blocking=True, timeout=left, backoff=1.05, max_delay=0.05)
        if not isinstance(json.loads(candidates), list) or "passed" not in json.loads(counts):
            raise RuntimeError("huey task returned an unexpected result")


def _huey_measure(
    task: Any, path: str, queue: str, mix: Sequence[str], n: int, seconds: float
) -> dict[str, Any]:
    """Enqueue n tasks, then wait until n results are stored (the warm results were
    consumed, so the kv table holds only these)."""
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    enqueued = 0
    while enqueued < n and time.perf_counter() < stop_at:
        task(mix[enqueued % len(mix)])
        enqueued += 1
    t_enqueued = time.perf_counter()
    done = 0
    while time.perf_counter() < stop_at:
        done = _kv_count(path, queue)
        if done >= enqueued:
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    return {
        "tasks": done,
        "enqueued": enqueued,
        "seconds": round(elapsed, 3),
        "tasks_per_s": round(done / elapsed, 1),
        "enqueue_per_s": round(enqueued / (t_enqueued - t0), 1),
        "complete": done >= n,
    }


# ---- claim latency on nexio_lite's own store ----------------------------------------------

CLAIM_ORG = "bench"
CLAIM_REQUEST = dumps(json.loads(SUBMIT_BODY))
INSERT_JOB_SQL = (
    "INSERT INTO jobs (id, org_id, type, status, request, pool_id, pool_version, "
    "created_at, updated_at) VALUES (?, ?, 'evaluation', 'queued', ?, 'carriers:all', 1, ?, ?)"
)


def _bulk_queue(path: str, rows: int) -> None:
    """Insert `rows` queued evaluation jobs in one transaction through plain sqlite3
    (sequential ids, which the claim never reads)."""
    now = now_ms()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN")
        conn.executemany(
            INSERT_JOB_SQL,
            ((f"eval_bulk{i:016d}", CLAIM_ORG, CLAIM_REQUEST, now, now) for i in range(rows)),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def _refill(store: SqliteStore, count: int) -> None:
    """Queue `count` new jobs through the store (one group-committed transaction), so
    the backlog stays at its size while claims take jobs off its head."""

    def job() -> NewJob:
        now = now_ms()
        return NewJob(random_id("eval_"), CLAIM_ORG, "evaluation", CLAIM_REQUEST, now,
                      "carriers:all", 1)  # fmt: skip

    await asyncio.gather(*(store.enqueue(job()) for _ in range(count)))


async def _timed_claim(store: SqliteStore, batch: int) -> float:
    """µs for one `store.claim(batch, 30_000, now)`, then (untimed) a refill."""
    now = now_ms()
    t = time.perf_counter()
    got = await store.claim(batch, 30_000, now)
    elapsed = (time.perf_counter() - t) * 1e6
    if len(got) != batch:
        raise RuntimeError(f"claimed {len(got)} jobs, expected {batch}")
    await _refill(store, len(got))
    return elapsed


async def _backlog_store(path: str, rows: int) -> tuple[SqliteStore, float]:
    """A migrated store on `path` holding `rows` queued jobs; (open store, setup s)."""
    store = SqliteStore(path)
    await store.open()
    await store.create_org(CLAIM_ORG, new_secret(), now_ms())
    await store.close()
    t = time.perf_counter()
    await asyncio.to_thread(_bulk_queue, path, rows)
    setup_s = time.perf_counter() - t
    store = SqliteStore(path)
    await store.open()
    return store, setup_s


def _claim_figures(times: list[float], batch: int) -> dict[str, Any]:
    p50 = statistics.median(times)
    return {
        "claims": len(times),
        "claim_p50_us": round(p50, 1),
        "claim_p99_us": round(pct(times, 0.99), 1),
        "per_job_p50_us": round(p50 / batch, 2),
    }


async def claim_latency(
    queued_rows: Sequence[int] = (1000, 1_000_000),
    batch: int = 32,
    claims: int = 200,
    seconds: float = 30.0,
) -> dict[str, Any]:
    """µs per `SqliteStore.claim(batch, 30_000, now)` (median, p99, per job) on nexio's
    own store with each backlog of queued jobs, kept at its size by refilling through
    `store.enqueue` after each claim; and the ratio of the medians, largest backlog over
    smallest. The backlogs' claims alternate (after 10 warm claims each), so a slower
    phase of the machine weighs on every size alike. Bounded by `claims` and `seconds`."""
    out: dict[str, Any] = {"batch": batch}
    with tempfile.TemporaryDirectory(prefix="nexio-ref-claim-") as tmp:
        stores: dict[int, SqliteStore] = {}
        try:
            for rows in queued_rows:
                stores[rows], setup_s = await _backlog_store(f"{tmp}/claim-{rows}.db", rows)
                out[str(rows)] = {"setup_s": round(setup_s, 1)}
            times: dict[int, list[float]] = {rows: [] for rows in stores}
            stop_at = time.perf_counter() + seconds
            for i in range(10 + claims):
                if time.perf_counter() > stop_at:
                    break
                for rows, store in stores.items():
                    elapsed = await _timed_claim(store, batch)
                    if i >= 10:
                        times[rows].append(elapsed)
            for rows, store in stores.items():
                queued = await store.count_jobs("queued")
                out[str(rows)].update(_claim_figures(times[rows], batch), queued=queued)
        finally:
            for store in stores.values():
                await store.close()
    if len(queued_rows) > 1:
        small, large = str(min(queued_rows)), str(max(queued_rows))
        out["ratio_p50"] = round(out[large]["claim_p50_us"] / out[small]["claim_p50_us"], 2)
    return out


# ---- PostgreSQL ---------------------------------------------------------------------------

# The server the PostgreSQL figures are measured on; each measurement makes its own database.
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NOOP_RESULT = '{"ok":true}'


def quiet_logs() -> None:
    """The stores this process opens log warnings and errors only, to stderr (stdout
    carries the figures)."""
    configure_logs("warning")


def postgres_reachable() -> str | None:
    """Why the PostgreSQL figures cannot be measured (one line), or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed: .venv/bin/pip install -e '.[postgres]'"
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {' '.join(str(exc).split())}"
    return None


@contextlib.contextmanager
def postgres_database(prefix: str = "nexio_bench") -> Iterator[str]:
    """The URL of a fresh, empty database on the server of POSTGRES_ADMIN_URL (trust auth
    on 127.0.0.1 by default; `BENCH_POSTGRES_URL` names another), dropped afterwards
    WITH (FORCE), whatever is still connected."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{random_id('', 8).lower()}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _pg_store_with_org(url: str) -> Any:
    """An open PostgresStore on `url` (migrated) with the organization CLAIM_ORG."""
    from nexio_lite.store.postgres import PostgresStore

    store = PostgresStore(url)
    await store.open()
    await store.create_org(CLAIM_ORG, new_secret(), now_ms())
    return store


def _pg_bulk_queue(url: str, rows: int) -> None:
    """Insert `rows` queued jobs in one statement (server-side), then ANALYZE."""
    import psycopg

    now = now_ms()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (id, org_id, type, status, request, pool_id, pool_version, "
            "created_at, updated_at) SELECT 'eval_bulk' || lpad(g::text, 16, '0'), %s, "
            "'evaluation', 'queued', %s, 'carriers:all', 1, %s, %s "
            "FROM generate_series(1, %s) AS g",
            (CLAIM_ORG, CLAIM_REQUEST, now, now, rows),
        )
        conn.execute("ANALYZE jobs")


async def _claim_complete_lane(store: Any, batch: int, stop_at: float) -> int:
    """Claim `batch` jobs, complete each with a no-op result (the completions share one
    transaction, as the store batches them), until `stop_at` or the queue is empty."""
    done = 0
    while time.monotonic() < stop_at:
        claims = await store.claim(batch, 30_000, now_ms())
        if not claims:
            break
        now = now_ms()
        results = await asyncio.gather(
            *(store.complete(c, NOOP_RESULT, None, now, now) for c in claims)
        )
        done += sum(results)
    return done


async def _claim_process_main(url: str, barrier: Any, seconds: float, batch: int,
                              lanes: int) -> tuple[int, float, float]:  # fmt: skip
    from nexio_lite.store.postgres import PostgresStore

    store = PostgresStore(url)
    await store.open()
    try:
        await asyncio.to_thread(barrier.wait, 60)  # every process opened: go together
        t0 = time.monotonic()
        counts = await asyncio.gather(
            *(_claim_complete_lane(store, batch, t0 + seconds) for _ in range(lanes))
        )
        return sum(counts), t0, time.monotonic()
    finally:
        await store.close()


def _claim_process(url: str, barrier: Any, out: Any, seconds: float, batch: int,
                   lanes: int) -> None:  # fmt: skip
    """One OS process of `pg_claim_throughput`: (jobs completed, start, end) into `out`."""
    quiet_logs()
    out.put(asyncio.run(_claim_process_main(url, barrier, seconds, batch, lanes)))


async def pg_claim_throughput(
    seconds: float, processes: int = 4, batch: int = 32, lanes: int = 2, backlog: int = 0
) -> dict[str, Any]:
    """Jobs claimed and completed per second (one claim + one completion each) by
    `processes` OS processes, each with its own PostgresStore and `lanes` claim loops
    (claim `batch`, complete them with a no-op result), on one fresh database holding
    `backlog` queued jobs (default: enough for 25,000/s); timed from the moment all
    processes are open to the last one's end. Checked against the database's count."""
    backlog = backlog or int(seconds * 25_000) + 10_000
    ctx = multiprocessing.get_context("spawn")
    with postgres_database() as url:
        store = await _pg_store_with_org(url)
        await store.close()
        await asyncio.to_thread(_pg_bulk_queue, url, backlog)
        barrier, out = ctx.Barrier(processes + 1), ctx.Queue()
        procs = [ctx.Process(target=_claim_process, args=(url, barrier, out, seconds, batch, lanes))
                 for _ in range(processes)]  # fmt: skip
        for proc in procs:
            proc.start()
        try:
            await asyncio.to_thread(barrier.wait, 120)
            results = [await asyncio.to_thread(out.get, True, seconds + 60) for _ in procs]
        finally:
            for proc in procs:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
        completed = _pg_scalar(url, "SELECT count(*) FROM jobs WHERE status='completed'")
    done = sum(r[0] for r in results)
    if completed != done:
        raise RuntimeError(f"{done} completions reported, {completed} jobs completed")
    elapsed = max(r[2] for r in results) - min(r[1] for r in results)
    return {"jobs_per_s": round(done / elapsed, 1), "jobs": done, "seconds": round(elapsed, 2),
            "processes": processes, "lanes_per_process": lanes, "batch": batch,
            "backlog": backlog, "drained": done >= backlog,
            "via": "store API, no HTTP"}  # fmt: skip


def _pg_scalar(url: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _subscriber_process(url: str, ready: Any, stop: Any, out: Any) -> None:
    """The other process of `pg_wakeup_latency`: when each job id was announced to it."""
    quiet_logs()
    out.put(asyncio.run(_subscriber_main(url, ready, stop)))


async def _subscriber_main(url: str, ready: Any, stop: Any) -> dict[str, float]:
    from nexio_lite.store.postgres import PostgresStore

    heard: dict[str, float] = {}

    def on_jobs(ids: list[str]) -> None:
        at = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
        for job_id in ids:
            heard.setdefault(job_id, at)

    store = PostgresStore(url)
    store.subscribe("jobs", on_jobs)
    await store.open()  # returns once LISTEN is in place
    try:
        ready.set()
        await asyncio.to_thread(stop.wait, 600)
        return heard
    finally:
        await store.close()


async def pg_wakeup_latency(samples: int, spacing_s: float = 0.02) -> dict[str, Any]:
    """ms from the start of `PostgresStore.enqueue` in this process (its commit included)
    to the `jobs` subscriber's callback in another process (LISTEN/NOTIFY), for
    `samples` jobs enqueued one at a time, `spacing_s` apart (after 5 warm ones)."""
    ctx = multiprocessing.get_context("spawn")
    with postgres_database() as url:
        store = await _pg_store_with_org(url)
        ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_subscriber_process, args=(url, ready, stop, out))
        proc.start()
        try:
            if not await asyncio.to_thread(ready.wait, 60):
                raise RuntimeError("the subscriber process did not start")
            sent = await _enqueue_spaced(store, 5 + samples, spacing_s)
            await asyncio.sleep(0.25)  # a wake-up later than this counts as lost
            stop.set()
            heard = await asyncio.to_thread(out.get, True, 60)
        finally:
            stop.set()
            await store.close()
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    measured = list(sent.items())[5:]
    lags = [(heard[i] - t) * 1000 for i, t in measured if i in heard]
    return {"wake_p50_ms": round(pct(lags, 0.5), 2), "wake_p99_ms": round(pct(lags, 0.99), 2),
            "wake_max_ms": round(max(lags, default=float("nan")), 2), "samples": len(lags),
            "lost": len(measured) - len(lags)}  # fmt: skip


async def _enqueue_spaced(store: Any, n: int, spacing_s: float) -> dict[str, float]:
    """Enqueue n jobs one at a time; when each enqueue started (monotonic), by job id."""
    sent: dict[str, float] = {}
    for _ in range(n):
        job = NewJob(random_id("eval_"), CLAIM_ORG, "evaluation", CLAIM_REQUEST, now_ms(),
                     "carriers:all", 1)  # fmt: skip
        sent[job.id] = time.monotonic()
        await store.enqueue(job)
        await asyncio.sleep(spacing_s)
    return sent


# ---- the machine's speed ------------------------------------------------------------------


def cpu_calibration(loops: int = 2_000_000, runs: int = 3) -> dict[str, Any]:
    """ms for a fixed pure-Python loop (best and worst of `runs`), in this process: on a
    shared or virtual machine the same work can take up to twice as long in a slow
    phase, so printing this next to the figures shows whether a run was one."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        total = 0
        for i in range(loops):
            total += i
        times.append((time.perf_counter() - t) * 1000)
    return {"loop_ms_best": round(min(times), 1), "loop_ms_worst": round(max(times), 1)}


# ---- running alone ------------------------------------------------------------------------

PIECES: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
    "cpu": lambda: asyncio.to_thread(cpu_calibration),
    "bare": lambda: ceiling_bare(3.0),
    "insert": lambda: ceiling_insert(3.0),
    "autocommit": lambda: ceiling_insert(3.0, autocommit=True),
    "group": lambda: ceiling_group_commit(3.0),
    "webhook": lambda: ceiling_webhook_client(10_000, 5.0),
    "huey": lambda: asyncio.to_thread(peer_huey, 1000, False, 60.0),
    "huey_normal": lambda: asyncio.to_thread(peer_huey, 1000, True, 60.0),
    "claim": lambda: claim_latency(),
    "pg_claims": lambda: pg_claim_throughput(3.0),
    "pg_wakeup": lambda: pg_wakeup_latency(200),
}


async def _main(names: list[str]) -> None:
    quiet_logs()
    for name in names:
        result = await PIECES[name]()
        print(json.dumps({name: result}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pieces", nargs="*", help=f"any of {', '.join(PIECES)} (default: all)")
    chosen = parser.parse_args().pieces or list(PIECES)
    unknown = [name for name in chosen if name not in PIECES]
    if unknown:
        parser.error(f"unknown piece(s): {', '.join(unknown)}")
    asyncio.run(_main(chosen))
