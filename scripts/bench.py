"""nexio_lite benchmark: real `nexio-lite serve` processes on 127.0.0.1, driven from this
process. Run it through `scripts/bench` (which prepares .venv); `--json` for machine
output, `--quick` for a smoke run, `--only PHASES` for some phases alone. The PostgreSQL
column (phase `postgres`) runs on the server of `BENCH_POSTGRES_URL` (default: 127.0.0.1,
user postgres, trust auth) in databases it creates and drops; `--no-postgres` skips it.

Every figure is the median of several runs; every load loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import bench_refs as refs
from bench_ceiling import ceiling_row, ceiling_targets, pipeline_ceiling, prepare_seconds
from bench_refs import free_port, pct, receiver_counts, receiver_reset, start_receiver

from nexio_lite.admin import Admin
from nexio_lite.config import DatabaseSettings
from nexio_lite.store import make_store
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.verticals.carriers.evaluate import evaluate
from nexio_lite.verticals.carriers.gcpause import gc_paused
from nexio_lite.verticals.carriers.pool import demo_pool_meta, generate_pool
from nexio_lite.verticals.carriers.prepared import prepare_pool
from nexio_lite.verticals.carriers.request import validate_request
from nexio_lite.verticals.screen.bench import bench_screen

ROOT = Path(__file__).resolve().parents[1]

SEED_PROFILE = {"entity": "acme-manufacturing", "state": "CA",
                "line": "professional_liability", "revenue": 12000000}  # fmt: skip
# The fixed mix of (b): the seed's profile and four others across lines and states.
PROFILES: list[dict[str, Any]] = [
    SEED_PROFILE,
    {"entity": "bayside-dental", "state": "FL", "line": "general_liability", "revenue": 2400000,
     "naics": "621210", "employees": 18, "years_in_business": 9},
    {"entity": "ridge-freight", "state": "TX", "line": "commercial_auto", "revenue": 31000000,
     "naics": "484110", "loss_ratio": 0.62, "claims_3yr": 4, "requested_limit": 2000000},
    {"entity": "loop-analytics", "state": "IL", "line": "cyber", "revenue": 8500000,
     "naics": "541512", "admitted_only": True, "min_am_best": "A-"},
    {"entity": "granite-builders", "state": "NY", "line": "workers_comp", "revenue": 64000000,
     "naics": "236220", "employees": 240, "effective_date": "2025-07-15"},
]  # fmt: skip


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def job_body(i: int, **extra: Any) -> dict[str, Any]:
    """The i-th request of the fixed profile mix."""
    return {"profile": PROFILES[i % len(PROFILES)], "pool": "carriers:all", **extra}


async def post_job(http: aiohttp.ClientSession, server: Server, body: dict[str, Any]) -> float:
    """Submit one job; its latency in ms. Anything but a 202 stops the benchmark."""
    t = time.perf_counter()
    async with http.post(f"{server.url}/api/v1/jobs", json=body) as r:
        await r.read()
        if r.status != 202:
            raise RuntimeError(f"submit answered {r.status}")
    return (time.perf_counter() - t) * 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def descendants(pid: int) -> list[int]:
    """Every process below `pid`: the children started by any of its threads, theirs, ..."""
    found: list[int] = []
    parents = [pid]
    while parents:
        parent = parents.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with contextlib.suppress(OSError):
                    kids = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
                    found += map(int, kids)
                    parents += map(int, kids)
    return found


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and every process below it (for a server: its scoring processes,
    and multiprocessing's resource tracker)."""
    total = rss_mb(pid)
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            mb = rss_mb(child)
            total += 0.0 if mb != mb else mb  # a zombie has no RSS (nan)
    return total


# ---- a real server ---------------------------------------------------------------------


class Database:
    """The database of a benchmarked service: a SQLite file (`path`), or a PostgreSQL
    database when `url` is set; read from outside with plain SQL that both accept."""

    def __init__(self, path: str, url: str = "") -> None:
        self.path = path
        self.url = url
        self._pg: Any = None  # one psycopg connection, opened at the first read

    @property
    def env(self) -> dict[str, str]:
        """The settings naming it, for `nexio-lite serve`."""
        return {
            "NEXIO_DATABASE_PATH": self.path,
            **({"NEXIO_DATABASE_URL": self.url} if self.url else {}),
        }

    def settings(self) -> DatabaseSettings:
        return DatabaseSettings(url=self.url, path=self.path)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.url:
            if self._pg is None:
                import psycopg

                self._pg = psycopg.connect(self.url, autocommit=True)
            return list(self._pg.execute(sql).fetchall())
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return list(conn.execute(sql))
        finally:
            conn.close()

    def scalar(self, sql: str) -> int:
        return int(self.rows(sql)[0][0])

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
            self._pg = None


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[Database]:
    """A new, empty database of `backend` ("sqlite": a file in `workdir`; "postgres": a
    database created on the bench's PostgreSQL server and dropped afterwards)."""
    path = str(workdir / "bench.db")
    if backend == "sqlite":
        yield Database(path)
        return
    with refs.postgres_database() as url:
        database = Database(path, url)
        try:
            yield database
        finally:
            database.close()


class Server:
    """One `nexio-lite serve` process; `partners` are the other processes of the same
    service (sharing its database), stopped with it."""

    def __init__(
        self, workdir: Path, database: Database | None = None, name: str = "server", **env: str
    ) -> None:
        self.workdir = workdir
        self.database = database or Database(str(workdir / "bench.db"))
        self.db = self.database.path  # the SQLite file, for the phases that run on SQLite
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEXIO_")}
        self.env.update(NEXIO_CONFIG=str(workdir / "bench.toml"), NEXIO_LOG_LEVEL="warning",
                        NEXIO_LOG_FORMAT="json", **self.database.env)  # fmt: skip
        self.env.update(env)
        (workdir / "bench.toml").write_text("")
        self.proc: subprocess.Popen[bytes] | None = None
        self.key = ""
        self.partners: list[Server] = []

    async def setup(self) -> None:
        store = make_store(self.database.settings())
        await store.open()
        try:
            admin = Admin(store)
            await admin.create_org("bench")
            await admin.demo_pool("bench")
            _, self.key = await admin.create_key("bench", None, "bench")
        finally:
            await store.close()

    async def start(self) -> None:
        await self.setup()
        await self.launch()

    async def launch(self) -> None:
        """Start the server process on the prepared database and wait until it is ready."""
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - a start, not a wait
            [sys.executable, "-m", "nexio_lite", "serve", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=log, cwd=self.workdir,
        )  # fmt: skip
        last = "no answer"
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                if self.proc.poll() is not None:
                    last = f"exited with {self.proc.returncode}"
                    break
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/readyz") as r:
                        if r.status == 200:
                            return
                        last = f"/readyz {r.status}: {await r.text()}"
                await asyncio.sleep(0.05)
        tail = (self.workdir / f"{self.name}.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} did not start ({last}); its log ends:\n{tail}")

    def stop(self) -> None:
        for partner in self.partners:
            partner.stop()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def pids(self) -> list[int]:
        """The server processes of the service (this one and its partners)."""
        return [s.proc.pid for s in (self, *self.partners) if s.proc is not None]

    def statuses(self) -> dict[str, int]:
        rows = self.database.rows("SELECT status, count(*) FROM jobs GROUP BY status")
        return {str(status): int(count) for status, count in rows}

    def latencies_ms(self) -> list[float]:
        """submit -> completed of each completed job, in arrival order."""
        rows = self.database.rows(
            "SELECT completed_at - created_at FROM jobs WHERE status='completed' ORDER BY seq"
        )
        return [float(r[0]) for r in rows]


@contextlib.asynccontextmanager
async def running(
    backend: str = "sqlite", split: bool = False, **env: str
) -> AsyncIterator[Server]:
    """A service on a fresh database of `backend`: one `all` process, or with `split` an
    `api` process (the one yielded: submit to it) and a `worker` process."""
    with (
        tempfile.TemporaryDirectory(prefix="nexio-bench-") as tmp,
        fresh_database(backend, Path(tmp)) as database,
    ):
        role = {"NEXIO_SERVER_ROLE": "api"} if split else {}
        server = Server(Path(tmp), database, **role, **env)
        try:
            await server.setup()
            if split:
                worker = Server(Path(tmp), database, "worker", **env, NEXIO_SERVER_ROLE="worker")
                server.partners.append(worker)
                await worker.launch()
            await server.launch()
            yield server
        finally:
            server.stop()


async def submit_all(server: Server, n: int, concurrency: int, deadline_s: float) -> list[float]:
    """Submit n jobs (the profile mix) with `concurrency` in flight; returns latencies."""
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    stop_at = time.perf_counter() + deadline_s
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, headers={"X-API-Key": server.key}) as http:

        async def one(i: int) -> None:
            if time.perf_counter() > stop_at:
                return
            async with sem:
                latencies.append(await post_job(http, server, job_body(i)))

        await asyncio.gather(*(one(i) for i in range(n)))
    return latencies


async def wait_done(server: Server, n: int, deadline_s: float) -> float:
    """When n jobs are terminal (checked every 20 ms: a cheap count on its database)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline_s:
        done = server.database.scalar("SELECT count(*) FROM jobs WHERE completed_at IS NOT NULL")
        if done >= n:
            return time.perf_counter()
        await asyncio.sleep(0.02)
    raise RuntimeError(f"jobs not done in {deadline_s}s: {server.statuses()}")


async def get_json(server: Server, path: str) -> Any:
    async with (
        aiohttp.ClientSession(headers={"X-API-Key": server.key}) as http,
        http.get(server.url + path) as r,
    ):
        return await r.json()


# ---- the figures -----------------------------------------------------------------------


def bench_pipeline(sizes: list[int], runs: int) -> dict[str, Any]:
    """(c) time per evaluation in process, seed profile, per pool size."""
    out: dict[str, Any] = {}
    request = validate_request({"profile": SEED_PROFILE, "pool": "carriers:all"})
    assert not isinstance(request, list)
    for size in sizes:
        carriers = generate_pool(size)
        pool = prepare_pool(demo_pool_meta(carriers), carriers)
        del carriers
        gc.collect()
        gc.freeze()  # as a scoring process holds its prepared pools
        evaluate(pool, request.profile, request.options)  # warm
        times = []
        for _ in range(max(30, runs * 1847 // size)):  # about the same time per size, 30 at least
            t = time.perf_counter()
            with gc_paused():  # as the service runs it (nexio_lite.scoring)
                evaluate(pool, request.profile, request.options)
            times.append((time.perf_counter() - t) * 1000)
        del pool
        gc.unfreeze()
        out[str(size)] = round(_median(times), 3)
    return out


async def bench_end_to_end(
    processes: int,
    n: int,
    repeats: int,
    backend: str = "sqlite",
    split: bool = False,
    **env: str,
) -> dict[str, Any]:
    """(b) evaluations/s, submit -> completed, the profile mix; and the worst event-loop
    stall while 200 submissions arrive at once and are scored. On `backend`, in one `all`
    process or (`split`) an `api` process and a `worker` process."""
    rates, stalls, p50s, p99s, peaks = [], [], [], [], [0.0]
    for _ in range(repeats):
        async with running(backend, split, NEXIO_WORKERS_PROCESSES=str(processes),
                           NEXIO_WORKERS_CONCURRENCY="32", **env) as server:  # fmt: skip
            await submit_all(server, 20, 20, 30)  # warm: processes spawned, pool loaded
            await wait_done(server, 20, 60)
            await get_json(server, "/readyz?reset=loop")
            t0 = time.perf_counter()
            sampler = asyncio.create_task(_sample_rss(server, peaks))
            await submit_all(server, 200, 200, 60)
            await wait_done(server, 220, 120)
            stalls.append((await get_json(server, "/readyz?reset=loop"))["loop_worst_stall_ms"])
            t0 = time.perf_counter()
            await submit_all(server, n, 64, 120)
            t1 = await wait_done(server, 220 + n, 300)
            sampler.cancel()
            rates.append(n / (t1 - t0))
            lat = server.latencies_ms()[220:]
            p50s.append(pct(lat, 0.5))
            p99s.append(pct(lat, 0.99))
    return {
        "evals_per_s": round(_median(rates), 1),
        "latency_p50_ms": round(_median(p50s), 1),
        "latency_p99_ms": round(_median(p99s), 1),
        "loop_stall_200_ms": round(_median(stalls), 2),
        "loop_stall_200_max_ms": round(max(stalls), 2),
        "peak_rss_mb": round(max(peaks), 1),
    }


async def _sample_rss(server: Server, peaks: list[float]) -> None:
    """Keep the largest RSS of the server processes and their scoring processes, every
    100 ms."""
    while True:
        total = sum(tree_rss_mb(pid) for pid in server.pids())
        peaks.append(max(peaks.pop(), total))
        await asyncio.sleep(0.1)


async def load_for(server: Server, seconds: float, concurrency: int) -> dict[str, Any]:
    """Submit the profile mix for `seconds` with `concurrency` requests in flight."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, headers={"X-API-Key": server.key}) as http:

        async def client(c: int) -> None:
            i = c
            while time.perf_counter() < stop_at:
                latencies.append(await post_job(http, server, job_body(i)))
                i += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(latencies, 0.5), 2),
        "p99_ms": round(pct(latencies, 0.99), 2),
    }


async def bench_submit(seconds: float, repeats: int, **env: str) -> dict[str, Any]:
    """(a) the API path alone: workers disabled, so jobs are accepted and stay queued."""
    runs = []
    for _ in range(repeats):
        async with running(NEXIO_WORKERS_CONCURRENCY="0", **env) as server:
            await load_for(server, 1.0, 64)  # warm
            runs.append(await load_for(server, seconds, 64))
    return {k: round(_median([r[k] for r in runs]), 2) for k in runs[0]}


async def submit_at_rate(server: Server, rate: float, n: int) -> None:
    """Open-loop load: one submission every 1/rate seconds (not waiting for answers)."""
    async with aiohttp.ClientSession(headers={"X-API-Key": server.key}) as http:
        tasks = []
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post_job(http, server, job_body(i))))
        await asyncio.gather(*tasks)


async def bench_latency_at(rate: float, seconds: float, repeats: int) -> dict[str, Any]:
    """(b) submit-to-completed latency at a steady rate (half the measured throughput)."""
    p50s, p99s = [], []
    n = max(20, int(rate * seconds))
    for _ in range(repeats):
        async with running() as server:
            await submit_all(server, 20, 20, 30)
            await wait_done(server, 20, 60)
            await submit_at_rate(server, rate, n)
            await wait_done(server, 20 + n, 120)
            lat = server.latencies_ms()[20:]
            p50s.append(pct(lat, 0.5))
            p99s.append(pct(lat, 0.99))
    return {"rate_per_s": round(rate, 1), "latency_p50_ms": round(_median(p50s), 1),
            "latency_p99_ms": round(_median(p99s), 1)}  # fmt: skip


async def bench_long_poll(n: int, repeats: int) -> dict[str, Any]:
    """(i) time from a job's completion (its completed_at) to the answer of a
    `?wait=30` request that was already waiting for it."""
    lags: list[float] = []
    for _ in range(repeats):
        async with (
            running() as server,
            aiohttp.ClientSession(headers={"X-API-Key": server.key}) as http,
        ):
            for i in range(n):
                async with http.post(f"{server.url}/api/v1/jobs", json=job_body(i)) as r:
                    eval_id = (await r.json())["eval_id"]
                async with http.get(f"{server.url}/api/v1/jobs/{eval_id}?wait=30") as r:
                    answered = time.time() * 1000  # the answer's headers are here
                    job = await r.json()
                done = dt.datetime.fromisoformat(job["completed_at"]).timestamp() * 1000
                lags.append(answered - done)
    return {"wake_p50_ms": round(pct(lags, 0.5), 2), "wake_p99_ms": round(pct(lags, 0.99), 2),
            "samples": len(lags)}  # fmt: skip


async def bench_webhooks(n: int, repeats: int) -> dict[str, Any]:
    """(d) deliveries/s from the outbox to a local receiver. N jobs finish while their
    receiver is unreachable (each first attempt fails, the retry is an hour away); the
    server restarts, and once it has settled (its scoring processes have prepared their
    pools: the bare client too is measured after a warm-up) the N deliveries are pointed
    at the receiver and made due now, through the database file as another process would
    write them; the server finds them at its next look (`poll_interval_seconds`) and
    delivers them: the rate from 10 % to 90 % of them received (`_steady_rate`). Every
    attempt must be recorded."""
    rates = []
    url, stop_receiver = await start_receiver()
    try:
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="nexio-bench-") as tmp:
                env = {"NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
                       "NEXIO_WEBHOOKS_RETRY_SCHEDULE_SECONDS": "[0, 3600, 3600]"}  # fmt: skip
                server = Server(Path(tmp), **env)
                await server.start()
                dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
                async with aiohttp.ClientSession(headers={"X-API-Key": server.key}) as http:
                    for i in range(n):
                        # options.limit keeps each body near the 2 KB of the bare client
                        body = job_body(i, webhook_url=dead, options={"limit": 4})
                        await post_job(http, server, body)
                await wait_done(server, n, 120)
                for _ in range(600):
                    if _scalar(server.db, "SELECT count(*) FROM delivery_attempts") >= n:
                        break
                    await asyncio.sleep(0.05)
                server.stop()
                await receiver_reset(url)
                server.port = free_port()
                server.url = f"http://127.0.0.1:{server.port}"
                await server.launch()
                await _settled(server)
                conn = sqlite3.connect(server.db, timeout=30)
                conn.execute("UPDATE deliveries SET url=?, next_attempt_at=0", (url,))
                conn.commit()
                conn.close()
                rates.append(await _steady_rate(url, n))
                for _ in range(200):
                    if _scalar(server.db, "SELECT count(*) FROM delivery_attempts") >= 2 * n:
                        break
                    await asyncio.sleep(0.05)
                recorded = _scalar(server.db, "SELECT count(*) FROM delivery_attempts")
                server.stop()
                if recorded != 2 * n:
                    raise RuntimeError(f"{recorded} attempts recorded for {2 * n} made")
    finally:
        stop_receiver()
    return {"deliveries_per_s": round(_median(rates), 1), "deliveries": n,
            "attempts_recorded": "all"}  # fmt: skip


async def _settled(server: Server, limit_s: float = 60.0) -> None:
    """Wait until the server and its scoring processes use under 5 % of a core (over
    half a second): a restarted server's processes import and prepare pools first."""
    assert server.proc is not None
    pids = [server.proc.pid]
    deadline = time.monotonic() + limit_s
    before = -1.0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        pids = [server.proc.pid, *_children(server.proc.pid)]
        used = sum(cpu_seconds(p) for p in pids)
        if before >= 0 and used - before < 0.025:
            return
        before = used
    raise RuntimeError(f"the server did not settle in {limit_s} s")


async def _steady_rate(url: str, n: int) -> float:
    """Deliveries/s while the receiver went from 10 % to 90 % of the `n` deliveries: the
    steady rate, as the bare client's figure is (it is measured after a warm-up), without
    the restarted server's first moments (its scoring processes preparing pools)."""
    t0 = time.perf_counter()
    marks: list[tuple[float, int]] = []
    while not marks or marks[-1][1] < n:
        if time.perf_counter() - t0 > 120:
            raise RuntimeError("deliveries did not arrive in 120 s")
        marks.append((time.perf_counter(), (await receiver_counts(url))["ids"]))
        await asyncio.sleep(0.01)
    lo = next(m for m in marks if m[1] >= n // 10)
    hi = next(m for m in marks if m[1] >= n - n // 10)
    return (hi[1] - lo[1]) / (hi[0] - lo[0])


def _scalar(db: str, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


async def bench_trace(repeats: int) -> dict[str, Any]:
    """The audit trace, recomputed on demand: time and size of the full and summary views."""
    full, summary, size = [], [], 0
    async with running() as server:
        await submit_all(server, 1, 1, 10)
        await wait_done(server, 1, 60)
        conn = sqlite3.connect(f"file:{server.db}?mode=ro", uri=True)
        eval_id, stored = conn.execute(
            "SELECT id, length(request) + length(result) + length(stages) + length(candidates) "
            "FROM jobs"
        ).fetchone()
        conn.close()
        async with aiohttp.ClientSession(headers={"X-API-Key": server.key}) as http:
            for _ in range(repeats):
                for level, sink in (("full", full), ("summary", summary)):
                    t = time.perf_counter()
                    async with http.get(f"{server.url}/traces/{eval_id}?level={level}") as r:
                        body = await r.read()
                    sink.append((time.perf_counter() - t) * 1000)
                    if level == "full":
                        size = len(body)
        idle = rss_mb(server.proc.pid) if server.proc else 0
    return {
        "trace_full_ms": round(_median(full), 1),
        "trace_full_bytes": size,
        "trace_summary_ms": round(_median(summary), 1),
        "stored_bytes_per_job": stored,
        "server_rss_after_trace_mb": round(idle, 1),
    }


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as f:
        return [int(c) for c in f.read().split()]


def _file_mb(path: str) -> float:
    try:
        return os.stat(path).st_size / 1e6
    except OSError:
        return 0.0


async def bench_wal(n: int) -> dict[str, Any]:
    """The write-ahead log under sustained load: its largest size while `n` jobs are
    submitted (concurrency 64) and scored, and its size once the service is idle."""
    async with running(NEXIO_WORKERS_CONCURRENCY="32") as server:
        wal = server.db + "-wal"
        peak = [0.0]

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], _file_mb(wal))
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        t0 = time.perf_counter()
        await submit_all(server, n, 64, 900)
        t1 = await wait_done(server, n, 1800)
        sampler.cancel()
        await asyncio.sleep(3.0)  # idle: the WAL is checkpointed and truncated
        return {
            "jobs": n,
            "evals_per_s": round(n / (t1 - t0), 1),
            "wal_peak_mb": round(peak[0], 1),
            "wal_idle_mb": round(_file_mb(wal), 2),
            "db_mb": round(_file_mb(server.db), 1),
        }


async def bench_big_pool(size: int) -> dict[str, Any]:
    """A `size`-carrier pool: the time a fresh process takes to parse its stored blob and
    to prepare it (as a scoring process does; measured while the service is idle), the
    first job on it (the pool is prepared in each scoring process), the scoring processes'
    RSS holding it, and the event loop while its full JSON trace and its HTML page are
    served (worst stall, and the slowest /healthz)."""
    async with running() as server:
        store = SqliteStore(server.db)
        await store.open()
        try:
            version = await Admin(store).demo_pool("bench", "carriers:big", size)
            blob = await store.pool_blob("bench", "carriers:big", version.version)
        finally:
            await store.close()
        assert blob is not None
        prepare = await asyncio.to_thread(prepare_seconds, version, blob)
        del blob
        await asyncio.sleep(2.5)  # the server's pool cache notices the new pool
        body = job_body(0)
        body["pool"] = "carriers:big"
        t0 = time.perf_counter()
        async with aiohttp.ClientSession(headers={"X-API-Key": server.key}) as http:
            async with http.post(f"{server.url}/api/v1/jobs", json=body) as r:
                eval_id = (await r.json())["eval_id"]
            async with http.get(f"{server.url}/api/v1/jobs/{eval_id}?wait=60") as r:
                assert (await r.json())["status"] == "completed"
            first_job_s = time.perf_counter() - t0
            assert server.proc is not None
            child_rss = [rss_mb(pid) for pid in _children(server.proc.pid)]
            await get_json(server, "/readyz?reset=loop")
            health: list[float] = []
            stop = asyncio.Event()

            async def probe() -> None:
                while not stop.is_set():
                    t = time.perf_counter()
                    async with http.get(f"{server.url}/healthz") as r:
                        await r.read()
                    health.append((time.perf_counter() - t) * 1000)
                    await asyncio.sleep(0.02)

            prober = asyncio.create_task(probe())
            sizes = {}
            # As sent: a client that accepts gzip gets the full trace gzip-encoded.
            async with aiohttp.ClientSession(headers={"X-API-Key": server.key},
                                             auto_decompress=False) as raw:  # fmt: skip
                t = time.perf_counter()
                async with raw.get(f"{server.url}/traces/{eval_id}") as r:
                    sizes["json"] = len(await r.read())
                json_s = time.perf_counter() - t
                t = time.perf_counter()
                async with raw.get(f"{server.url}/traces/{eval_id}",
                                   headers={"Accept": "text/html"}) as r:  # fmt: skip
                    sizes["html"] = len(await r.read())
                html_s = time.perf_counter() - t
            stop.set()
            await prober
        stall = (await get_json(server, "/readyz?reset=loop"))["loop_worst_stall_ms"]
    return {
        "carriers": size,
        "parse_s": round(prepare["parse_s"], 2),
        "prepare_s": round(prepare["prepare_s"], 2),
        "first_job_s": round(first_job_s, 2),
        "scoring_process_rss_mb": round(max(child_rss, default=0.0), 1),
        "trace_json_s": round(json_s, 2),
        "trace_json_sent_mb": round(sizes["json"] / 1e6, 1),
        "trace_html_s": round(html_s, 2),
        "trace_html_mb": round(sizes["html"] / 1e6, 2),
        "loop_worst_stall_ms": stall,
        "healthz_worst_ms": round(max(health, default=0.0), 1),
    }


# ---- placement screening -------------------------------------------------------------------


async def _screen(quick: bool) -> dict[str, Any]:
    """(m) one screen of a 64 KiB content with hundreds of occurrences on the model rule
    book, in process: median of several runs (the engine's own benchmark)."""
    return bench_screen(runs=5 if quick else 25)


def screen_targets(sc: dict[str, Any]) -> list[tuple[str, float, float]]:
    return [("screen of a 64 KiB content <= 20 ms (model rule book)", sc["median_ms"], 20.0)]


# ---- what metrics cost --------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _submit_cpu(seconds: float, flag: str) -> dict[str, Any]:
    """(a) with `metrics.enabled` = flag, and the server process's CPU time per request."""
    async with running(NEXIO_WORKERS_CONCURRENCY="0", NEXIO_METRICS_ENABLED=flag) as server:
        assert server.proc is not None
        await load_for(server, 1.0, 64)  # warm
        before = cpu_seconds(server.proc.pid)
        out = await load_for(server, seconds, 64)
        used = cpu_seconds(server.proc.pid) - before
    out["server_cpu_us_per_request"] = round(used / (out["rps"] * seconds) * 1e6, 1)
    return out


async def bench_metrics(quick: bool) -> dict[str, Any]:
    """Submit and end-to-end throughput with `metrics.enabled` true and false, in turn
    (on, off, on, off, ...), and the median of the pairwise ratios on/off; and, less
    noisy than throughput on a shared machine, the server's CPU time per submit."""
    runs, secs, n = (1, 2.0, 200) if quick else (5, 6.0, 1500)
    submits: list[tuple[dict[str, Any], dict[str, Any]]] = []
    e2es: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for _ in range(runs):
        submits.append((await _submit_cpu(secs, "true"), await _submit_cpu(secs, "false")))
        e2es.append(tuple([await bench_end_to_end(2, n, 1, NEXIO_METRICS_ENABLED=flag)
                           for flag in ("true", "false")]))  # type: ignore[arg-type]  # fmt: skip
    return {
        "runs": runs,
        "submit_on": _median_dicts([a for a, _ in submits]),
        "submit_off": _median_dicts([b for _, b in submits]),
        "ratio_submit_on_to_off": round(_median([a["rps"] / b["rps"] for a, b in submits]), 3),
        "ratio_submit_cpu_off_to_on": round(
            _median(
                [
                    b["server_cpu_us_per_request"] / a["server_cpu_us_per_request"]
                    for a, b in submits
                ]
            ),
            3,
        ),
        "end_to_end_on": _median_dicts([a for a, _ in e2es]),
        "end_to_end_off": _median_dicts([b for _, b in e2es]),
        "ratio_end_to_end_on_to_off": round(
            _median([a["evals_per_s"] / b["evals_per_s"] for a, b in e2es]), 3
        ),
    }


def metrics_targets(m: dict[str, Any]) -> list[tuple[str, float, float]]:
    return [
        ("submit with metrics on >= 0.97x off", m["ratio_submit_on_to_off"], 0.97),
        ("end to end with metrics on >= 0.97x off", m["ratio_end_to_end_on_to_off"], 0.97),
    ]


# ---- the PostgreSQL column ---------------------------------------------------------------

PG_SETUPS = {"postgres": False, "postgres_pair": True}  # name -> split into api + worker


async def pg_end_to_end_round(n: int) -> dict[str, dict[str, Any]]:
    """(b) once on PostgreSQL in each setup: one `all` process, then an `api` process and
    a `worker` process (submissions go to the api process)."""
    return {
        name: await bench_end_to_end(2, n, 1, "postgres", split)
        for name, split in PG_SETUPS.items()
    }


def pg_end_to_end_summary(
    sqlite_runs: list[dict[str, Any]], pg_rounds: list[dict[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Medians of each setup and, per setup, the median of the ratios to the SQLite run
    made beside it (run i of each was measured in turn)."""
    out: dict[str, Any] = {"sqlite": _median_dicts(sqlite_runs)}
    for name in PG_SETUPS:
        runs = [r[name] for r in pg_rounds]
        out[name] = _median_dicts(runs)
        ratios = [
            p["evals_per_s"] / q["evals_per_s"] for p, q in zip(runs, sqlite_runs, strict=True)
        ]
        out[f"ratio_{name}_to_sqlite"] = round(_median(ratios), 3)
    return out


async def bench_pg_claim_wakeup(n: int, spacing_s: float = 0.03) -> dict[str, Any]:
    """ms from a job's acceptance by an `api` process (its created_at) to its claim by a
    `worker` process (its started_at), on PostgreSQL, the workers polling only every 5 s:
    `n` jobs submitted one at a time, `spacing_s` apart, so the worker is idle for each."""
    warm = 5
    async with running("postgres", True, NEXIO_WORKERS_POLL_INTERVAL_SECONDS="5") as server:
        await submit_all(server, warm, warm, 30)
        await wait_done(server, warm, 60)
        async with aiohttp.ClientSession(headers={"X-API-Key": server.key}) as http:
            for i in range(n):
                await post_job(http, server, job_body(i))
                await asyncio.sleep(spacing_s)
        await wait_done(server, warm + n, 60)
        rows = server.database.rows("SELECT started_at - created_at FROM jobs ORDER BY seq")
    waits = [float(r[0]) for r in rows][warm:]
    return {"claim_p50_ms": round(pct(waits, 0.5), 1), "claim_p99_ms": round(pct(waits, 0.99), 1),
            "claim_max_ms": round(max(waits), 1), "samples": len(waits),
            "poll_interval_s": 5}  # fmt: skip


async def pg_claims(quick: bool, runs: int) -> dict[str, Any]:
    """Jobs claimed and completed per second by 4 processes through the store API, with
    claim batches of 32 (a worker of that concurrency) and of 500 (the store's largest
    completion batch); quick: 500 only."""
    seconds = 0.5 if quick else 3.0
    batches = (500,) if quick else (32, 500)
    return {
        "claims": {
            f"batch_{b}": await _median_of(
                lambda b=b: refs.pg_claim_throughput(seconds, batch=b), runs
            )
            for b in batches
        }
    }


async def pg_wakeups(quick: bool) -> dict[str, Any]:
    """Wake-up latency across processes: store (enqueue -> subscriber) and service
    (accepted by an api process -> claimed by a worker process; not in quick)."""
    out = {"wakeup_store": await refs.pg_wakeup_latency(20 if quick else 300)}
    if not quick:
        out["wakeup_claim"] = await bench_pg_claim_wakeup(300)
    return out


async def bench_postgres(
    quick: bool, runs: int, end_to_end: dict[str, Any] | None
) -> dict[str, Any]:
    """The PostgreSQL column: `end_to_end` (measured beside SQLite by the caller), claim
    throughput and wake-up latency."""
    out: dict[str, Any] = {} if end_to_end is None else {"end_to_end": end_to_end}
    out.update(await pg_claims(quick, runs))
    out.update(await pg_wakeups(quick))
    return out


async def postgres_phase(quick: bool) -> dict[str, Any]:
    """`--only postgres`: the PostgreSQL column with its own SQLite runs beside it."""
    runs, n = (1, 200) if quick else (3, 1500)
    sqlite_runs, pg_rounds = [], []
    for _ in range(runs):
        sqlite_runs.append(await bench_end_to_end(2, n, 1))
        pg_rounds.append(await pg_end_to_end_round(n))
    return await bench_postgres(quick, runs, pg_end_to_end_summary(sqlite_runs, pg_rounds))


def require_postgres() -> None:
    problem = refs.postgres_reachable()
    if problem:
        raise SystemExit(f"scripts/bench: {problem}; the PostgreSQL column needs it "
                         "(--no-postgres skips it)")  # fmt: skip


async def bench_idle() -> dict[str, Any]:
    """(e) idle RSS of the server process after start (scoring processes not yet spawned)."""
    async with running() as server:
        await asyncio.sleep(1.0)
        assert server.proc is not None
        return {"idle_rss_mb": round(rss_mb(server.proc.pid), 1)}


def ceiling_bodies(quick: bool) -> list[dict[str, Any]]:
    """The requests of the pipeline-only ceiling: the end-to-end phase's profile mix."""
    return [job_body(i) for i in range(3000 if quick else 12_000)]


def ceiling_summary(
    e2e_runs: list[dict[str, Any]], ceiling_runs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ceiling's medians and the median of the ratios end to end / ceiling, run i of
    each measured in turn."""
    ratios = [a["evals_per_s"] / b["evals_per_s"]
              for a, b in zip(e2e_runs, ceiling_runs, strict=True)]  # fmt: skip
    return {"pipeline_ceiling": _median_dicts(ceiling_runs),
            "ratio_end_to_end_to_pipeline_ceiling": round(_median(ratios), 3)}  # fmt: skip


async def ceiling_phase(quick: bool) -> dict[str, Any]:
    """`--only ceiling`: the pipeline-only ceiling (bench_ceiling.py), each run beside an
    end-to-end run (2 scoring processes, the same profile mix)."""
    runs, n = (1, 200) if quick else (3, 1500)
    e2e_runs, ceiling_runs = [], []
    for _ in range(runs):
        e2e_runs.append(await bench_end_to_end(2, n, 1))
        ceiling_runs.append(pipeline_ceiling(ceiling_bodies(quick)))
    return {"end_to_end": _median_dicts(e2e_runs), **ceiling_summary(e2e_runs, ceiling_runs)}


async def webhooks_phase(quick: bool) -> dict[str, Any]:
    """(d) beside the bare client, A B A B A B; the target is the median pairwise ratio."""
    runs, secs = (1, 2.0) if quick else (3, 10.0)
    hooks = []
    for _ in range(runs):
        hooks.append((await bench_webhooks(300 if quick else 1500, 1),
                      await refs.ceiling_webhook_client(300 if quick else 3000, secs)))  # fmt: skip
    return {
        "webhooks": _median_dicts([a for a, _ in hooks]),
        "ceiling_webhook_client": _median_dicts([b for _, b in hooks]),
        "ratio_webhooks_to_bare_client": _median(
            [a["deliveries_per_s"] / b["deliveries_per_s"] for a, b in hooks]
        ),
    }


async def submit_phase(quick: bool) -> dict[str, Any]:
    """Submit beside the group-commit ceiling, A B A B A B; the target is the median
    pairwise ratio."""
    runs, secs, ceiling_secs = (1, 2.0, 2.0) if quick else (3, 10.0, 6.0)
    pairs = [
        (await bench_submit(secs, 1), await refs.ceiling_group_commit(ceiling_secs))
        for _ in range(runs)
    ]
    return {
        "submit": _median_dicts([a for a, _ in pairs]),
        "ceiling_group_commit": _median_dicts([b for _, b in pairs]),
        "ratio_submit_to_group_commit": _median([a["rps"] / b["rps"] for a, b in pairs]),
    }


async def huey_phase(quick: bool) -> dict[str, Any]:
    """`--only huey`: end to end beside huey-SQLite (NORMAL), A B A B A B, as the full run
    pairs them; the target is the median pairwise ratio."""
    runs, n, huey_n = (1, 200, 100) if quick else (3, 1500, 800)
    pairs = [
        (await bench_end_to_end(2, n, 1), refs.peer_huey(huey_n, True, 120, PROFILES))
        for _ in range(runs)
    ]
    return {
        "end_to_end": _median_dicts([a for a, _ in pairs]),
        "huey_normal": _median_dicts([b for _, b in pairs]),
        "ratio_end_to_end_to_huey_normal": _median(
            [a["evals_per_s"] / b["tasks_per_s"] for a, b in pairs]
        ),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    if args.postgres:
        require_postgres()
    runs = 1 if quick else 3
    r: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "runs_per_figure": runs,
    }
    sizes = [1847] if quick else [1847, 10000, 99999][: 2 if args.no_large else 3]
    r["pipeline_ms_per_eval"] = bench_pipeline(sizes, 20 if quick else 200)
    r["idle"] = await bench_idle()
    # Each compared pair runs in turn, A B A B A B, and the target uses the median of
    # the pairwise ratios: the machine's speed drifts more than these ratios do.
    ceiling_secs = 2.0 if quick else 6.0
    r.update(await submit_phase(quick))
    r["ceiling_insert"] = await _median_of(lambda: refs.ceiling_insert(ceiling_secs), runs)
    n, huey_n = (200, 100) if quick else (1500, 800)
    e2e_runs, huey_runs, ceiling_runs = [], [], []
    pg_rounds: list[dict[str, dict[str, Any]]] = []  # beside each SQLite run (not in quick)
    for _ in range(runs):
        e2e_runs.append(await bench_end_to_end(2, n, 1))
        ceiling_runs.append(pipeline_ceiling(ceiling_bodies(quick)))
        huey_runs.append(refs.peer_huey(huey_n, True, 120, PROFILES))
        if args.postgres and not quick:
            pg_rounds.append(await pg_end_to_end_round(n))
    e2e = r["end_to_end"] = _median_dicts(e2e_runs)
    r.update(ceiling_summary(e2e_runs, ceiling_runs))
    r["huey_normal"] = _median_dicts(huey_runs)
    r["ratio_end_to_end_to_huey_normal"] = _median(
        [a["evals_per_s"] / b["tasks_per_s"] for a, b in zip(e2e_runs, huey_runs, strict=True)]
    )
    r["huey_default"] = _median_dicts(
        [refs.peer_huey(huey_n, False, 120, PROFILES) for _ in range(runs)]
    )
    r["ratio_end_to_end_to_huey_default"] = e2e["evals_per_s"] / r["huey_default"]["tasks_per_s"]
    r["latency_at_half_rate"] = await bench_latency_at(
        e2e["evals_per_s"] / 2, 2.0 if quick else 6.0, runs
    )
    r.update(await webhooks_phase(quick))
    r["claim"] = await refs.claim_latency([1000, 100_000] if quick else [1000, 1_000_000])
    r["long_poll"] = await bench_long_poll(50 if quick else 200, runs)
    r["trace"] = await bench_trace(3 if quick else 10)
    r["wal"] = await bench_wal(2000 if quick else 20_000)
    if not quick and not args.no_large:
        r["big_pool"] = await bench_big_pool(99_999)
    r["metrics"] = await bench_metrics(quick)
    r["screen"] = await _screen(quick)
    if args.postgres:
        pg_e2e = pg_end_to_end_summary(e2e_runs, pg_rounds) if pg_rounds else None
        r["postgres"] = await bench_postgres(quick, runs, pg_e2e)
    r["targets"] = targets(r)
    return r


async def only(names: list[str], quick: bool) -> dict[str, Any]:
    """Just the named phases (`--only wal,big_pool`), for a change that moves only them."""
    phases = {
        "wal": lambda: bench_wal(2000 if quick else 20_000),
        "big_pool": lambda: bench_big_pool(10_000 if quick else 99_999),
        "trace": lambda: bench_trace(3 if quick else 10),
        "idle": bench_idle,
        "ceiling": lambda: ceiling_phase(quick),
        "huey": lambda: huey_phase(quick),
        "submit": lambda: submit_phase(quick),
        "webhooks": lambda: webhooks_phase(quick),
        "metrics": lambda: bench_metrics(quick),
        "screen": lambda: _screen(quick),
        "postgres": lambda: postgres_phase(quick),
        "postgres_claims": lambda: pg_claims(quick, 1 if quick else 3),
        "postgres_wakeup": lambda: pg_wakeups(quick),
    }
    unknown = [n for n in names if n not in phases]
    if unknown:
        raise SystemExit(f"unknown phase(s) {unknown}; choose from {sorted(phases)}")
    if any(n.startswith("postgres") for n in names):
        require_postgres()
    out = {name: await phases[name]() for name in names}
    pg = {k: v for name, fig in out.items() if name.startswith("postgres") for k, v in fig.items()}
    rows = postgres_targets(pg) if pg else []
    if "ceiling" in out:
        rows += ceiling_targets(out["ceiling"])
    if "metrics" in out:
        rows += metrics_targets(out["metrics"])
    if "screen" in out:
        rows += screen_targets(out["screen"])
    if rows:
        out["targets"] = judge(rows)
    return out


async def _median_of(make: Any, runs: int) -> dict[str, Any]:
    return _median_dicts([await make() for _ in range(runs)])


def _median_dicts(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median of the runs' numbers (other values from the first run)."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = round(_median([run[key] for run in runs]), 2)
        else:
            out[key] = value
    return out


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals of the benchmark issues ("Speed, part two" first), each with the figure
    and whether it is met."""
    claim = r["claim"]
    pipe = r["pipeline_ms_per_eval"]
    e2e = r["end_to_end"]
    rows = [
        ("submit >= 80% of group-commit ceiling", r["ratio_submit_to_group_commit"], 0.80),
        ("submit p99 < 50 ms at concurrency 64", r["submit"]["p99_ms"], 50.0),
        *ceiling_targets(r),
        ("end to end >= 1.5x huey-SQLite (NORMAL)", r["ratio_end_to_end_to_huey_normal"], 1.5),
        ("pipeline <= 1.0 ms per evaluation (demo pool)", pipe["1847"], 1.0),
    ]
    if "99999" in pipe:
        # time per carrier at 99,999 over time per carrier on the demo pool (1,847)
        growth = (pipe["99999"] / pipe["1847"]) / (99_999 / 1847)
        rows += [
            ("pipeline <= 40 ms per evaluation at 99,999 carriers", pipe["99999"], 40.0),
            ("pipeline time per carrier at 99,999 carriers <= 1.3x the demo pool's",
             growth, 1.3),
        ]  # fmt: skip
    big = r.get("big_pool")
    if big is not None and big["carriers"] == 99_999:
        rows.append(("a stored 99,999-carrier pool ready to score in <= 3 s (read, prepared)",
                     round(big["parse_s"] + big["prepare_s"], 2), 3.0))  # fmt: skip
    rows += [
        ("webhooks >= 50% of the bare client", r["ratio_webhooks_to_bare_client"], 0.5),
        ("idle RSS <= 80 MB", r["idle"]["idle_rss_mb"], 80.0),
        ("peak RSS during end to end <= 250 MB (server + scoring processes)",
         e2e["peak_rss_mb"], 250.0),
        ("event loop stall <= 50 ms while scoring", e2e["loop_stall_200_max_ms"], 50.0),
        ("claim cost flat from 1k to the large backlog (within 2x)",
         claim["ratio_p50"], 2.0),
        ("long-poll wake-up p99 <= 10 ms", r["long_poll"]["wake_p99_ms"], 10.0),
        ("WAL under sustained load < 64 MiB", r["wal"]["wal_peak_mb"], 64 * 1.048576),
        ("WAL when idle <= 4 MiB", r["wal"]["wal_idle_mb"], 4 * 1.048576),
    ]  # fmt: skip
    if big is not None:
        rows += [
            ("event loop stall <= 50 ms while a 99,999-carrier trace is served",
             big["loop_worst_stall_ms"], 50.0),
            ("scoring process RSS <= 400 MB with a 99,999-carrier pool",
             big["scoring_process_rss_mb"], 400.0),
        ]  # fmt: skip
    if r.get("metrics"):
        rows += metrics_targets(r["metrics"])
    if r.get("screen"):
        rows += screen_targets(r["screen"])
    if r.get("postgres"):
        rows += postgres_targets(r["postgres"])
    return judge(rows)


def postgres_targets(pg: dict[str, Any]) -> list[tuple[str, float, float]]:
    """The PostgreSQL goals of issue 9, for the figures that were measured."""
    rows = []
    e2e = pg.get("end_to_end")
    if e2e is not None:
        rows += [
            ("PostgreSQL end to end, one process >= 0.9x SQLite's",
             e2e["ratio_postgres_to_sqlite"], 0.9),
            ("PostgreSQL end to end, api + worker processes >= 0.9x SQLite's",
             e2e["ratio_postgres_pair_to_sqlite"], 0.9),
        ]  # fmt: skip
    if "claims" in pg:
        best = max(c["jobs_per_s"] for c in pg["claims"].values())
        rows.append(("PostgreSQL claims+completions >= 10,000/s (4 processes, store API)",
                     best, 10_000.0))  # fmt: skip
    if "wakeup_store" in pg:
        rows.append(("PostgreSQL wake-up across processes p99 <= 100 ms (enqueue -> subscriber)",
                     pg["wakeup_store"]["wake_p99_ms"], 100.0))  # fmt: skip
    claim = pg.get("wakeup_claim")
    if claim is not None:
        rows.append(("PostgreSQL wake-up p99 <= 100 ms (accepted by api -> claimed by worker)",
                     claim["claim_p99_ms"], 100.0))  # fmt: skip
    return rows


def judge(rows: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    """Each (target, value, goal) with whether it is met ("at least" when the target
    says >=, else "at most")."""
    out = []
    for name, value, goal in rows:
        at_least = ">=" in name
        met = value >= goal if at_least else value <= goal
        out.append({"target": name, "value": round(value, 3), "goal": goal, "met": met})
    return out


def print_table(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"nexio_lite benchmark — {m['cpus']} CPUs, Python {m['python']}, {m['platform']};"
          f" medians of {r['runs_per_figure']} runs")  # fmt: skip
    print()
    rows: list[tuple[str, str]] = []
    sub = r["submit"]
    rows.append(
        (
            "(a) submit, concurrency 64, workers off",
            f"{sub['rps']} req/s, p50 {sub['p50_ms']} ms, p99 {sub['p99_ms']} ms",
        )
    )
    e = r["end_to_end"]
    rows.append(
        (
            "(b) end to end, profile mix, no webhooks",
            f"{e['evals_per_s']} evals/s (2 scoring processes)",
        )
    )
    h = r["latency_at_half_rate"]
    rows.append(
        (
            "    submit -> completed at half that rate",
            f"{h['rate_per_s']}/s: p50 {h['latency_p50_ms']} ms, p99 {h['latency_p99_ms']} ms",
        )
    )
    rows.append(ceiling_row(r))
    for size, ms in r["pipeline_ms_per_eval"].items():
        rows.append((f"(c) pipeline, {size} carriers", f"{ms} ms per evaluation"))
    w = r["webhooks"]
    rows.append(
        (
            "(d) webhooks, outbox -> local receiver",
            f"{w['deliveries_per_s']} deliveries/s (~2 KB bodies), every attempt recorded",
        )
    )
    rows.append(
        (
            "(e) memory",
            f"idle {r['idle']['idle_rss_mb']} MB; peak during (b) "
            f"{e['peak_rss_mb']} MB (server + scoring processes: its process tree)",
        )
    )
    for name, key in (("defaults", "huey_default"), ("synchronous=NORMAL", "huey_normal")):
        h = r[key]
        ratio = r[f"ratio_end_to_end_to_{key}"]
        rows.append((f"(f) huey {h['huey']} SqliteHuey, {name}",
                     f"{h['tasks_per_s']} tasks/s; (b) is {ratio:.2f}x this"))  # fmt: skip
    i = r["ceiling_insert"]
    rows.append(("(g) aiohttp + 1 SQLite insert/commit", f"{i['rps']} req/s, p99 {i['p99_ms']} ms"))
    g = r["ceiling_group_commit"]
    rows.append(("    aiohttp + group commit", f"{g['rps']} req/s, p99 {g['p99_ms']} ms; (a) is "
                 f"{r['ratio_submit_to_group_commit']:.2f}x this"))  # fmt: skip
    b = r["ceiling_webhook_client"]
    rows.append(("    bare client, signed 2 KB bodies", f"{b['deliveries_per_s']} deliveries/s; "
                 f"(d) is {r['ratio_webhooks_to_bare_client']:.2f}x this"))  # fmt: skip
    claim = r["claim"]
    sizes = [k for k in claim if k.isdigit()]
    per_size = "; ".join(
        f"{int(k):,} queued: p50 {claim[k]['claim_p50_us']} us per claim of {claim['batch']}"
        for k in sizes
    )
    rows.append(("(h) claim latency", f"{per_size}; ratio {claim.get('ratio_p50')}"))
    lp = r["long_poll"]
    rows.append(
        ("(i) long-poll wake-up", f"p50 {lp['wake_p50_ms']} ms, p99 {lp['wake_p99_ms']} ms")
    )
    rows.append(
        (
            "    event loop, 200 concurrent submissions",
            f"worst stall {e['loop_stall_200_max_ms']} ms",
        )
    )
    t = r["trace"]
    trace = (
        f"full {t['trace_full_ms']} ms ({t['trace_full_bytes']} B), summary "
        f"{t['trace_summary_ms']} ms; stored per job {t['stored_bytes_per_job']} B"
    )
    rows.append(("    audit trace, recomputed on demand", trace))
    wl = r["wal"]
    rows.append((f"(j) WAL, {wl['jobs']:,} jobs at {wl['evals_per_s']}/s",
                 f"peak {wl['wal_peak_mb']} MB, idle {wl['wal_idle_mb']} MB "
                 f"(database {wl['db_mb']} MB)"))  # fmt: skip
    big = r.get("big_pool")
    if big is not None:
        rows.append((f"(k) {big['carriers']:,}-carrier pool",
                     f"parsed in {big['parse_s']} s, then prepared in {big['prepare_s']} s "
                     "(a fresh process, from its blob); "
                     f"first job {big['first_job_s']} s; scoring process "
                     f"{big['scoring_process_rss_mb']} MB"))  # fmt: skip
        rows.append(("    its trace, JSON and HTML page",
                     f"{big['trace_json_sent_mb']} MB sent in {big['trace_json_s']} s, "
                     f"{big['trace_html_mb']} MB in {big['trace_html_s']} s; worst loop stall "
                     f"{big['loop_worst_stall_ms']} ms, slowest /healthz "
                     f"{big['healthz_worst_ms']} ms"))  # fmt: skip
    mt = r.get("metrics")
    if mt is not None:
        rows.append(("(l) metrics on / off", f"submit {mt['submit_on']['rps']} / "
                     f"{mt['submit_off']['rps']} req/s ({mt['ratio_submit_on_to_off']:.3f}x); "
                     f"end to end {mt['end_to_end_on']['evals_per_s']} / "
                     f"{mt['end_to_end_off']['evals_per_s']} evals/s "
                     f"({mt['ratio_end_to_end_on_to_off']:.3f}x); server CPU per submit "
                     f"{mt['submit_on']['server_cpu_us_per_request']} / "
                     f"{mt['submit_off']['server_cpu_us_per_request']} us"))  # fmt: skip
    sc = r.get("screen")
    if sc is not None:
        rows.append(("(m) screen, 64 KiB content", f"{sc['median_ms']} ms ({sc['occurrences']} "
                     f"occurrences, {sc['findings']} findings, model rule book)"))  # fmt: skip
    if r.get("postgres"):
        rows += postgres_rows(r["postgres"])
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    print()
    print("targets:")
    for t in r["targets"]:
        mark = "met " if t["met"] else "MISS"
        print(f"  [{mark}] {t['target']}: {t['value']} (goal {t['goal']})")


def postgres_rows(pg: dict[str, Any]) -> list[tuple[str, str]]:
    """The PostgreSQL column of the table: each figure beside SQLite's where both exist."""
    rows: list[tuple[str, str]] = [("(n) PostgreSQL, measured in the same run", "")]
    e2e = pg.get("end_to_end")
    if e2e is not None:
        sqlite = e2e["sqlite"]["evals_per_s"]
        for name, label in (("postgres", "one `all` process"),
                            ("postgres_pair", "`api` + `worker` processes")):  # fmt: skip
            fig = e2e[name]
            rows.append((f"    end to end, {label}",
                         f"SQLite {sqlite} | PostgreSQL {fig['evals_per_s']} evals/s "
                         f"({e2e[f'ratio_{name}_to_sqlite']:.2f}x), p99 "
                         f"{fig['latency_p99_ms']} ms"))  # fmt: skip
    for name, c in pg["claims"].items():
        rows.append((f"    claim+complete, {c['processes']} processes, {name.replace('_', ' ')}",
                     f"{c['jobs_per_s']} jobs/s ({c['via']}; no-op job, "
                     f"{c['lanes_per_process']} claim loops each)"))  # fmt: skip
    w = pg["wakeup_store"]
    rows.append(("    wake-up, enqueue -> subscriber in another process",
                 f"p50 {w['wake_p50_ms']} ms, p99 {w['wake_p99_ms']} ms "
                 f"({w['samples']} jobs, {w['lost']} lost)"))  # fmt: skip
    c = pg.get("wakeup_claim")
    if c is not None:
        rows.append(("    wake-up, accepted by api -> claimed by worker",
                     f"p50 {c['claim_p50_ms']} ms, p99 {c['claim_p99_ms']} ms "
                     f"(workers poll every {c['poll_interval_s']} s)"))  # fmt: skip
    return rows


if __name__ == "__main__":
    refs.quiet_logs()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    parser.add_argument("--no-large", action="store_true", help="skip the 99,999-carrier pool")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false",
                        help="skip the PostgreSQL column (phase postgres)")  # fmt: skip
    parser.add_argument("--only", help="run just these phases, comma-separated (JSON output)")
    ns = parser.parse_args()
    if ns.only:
        print(json.dumps(asyncio.run(only(ns.only.split(","), ns.quick)), indent=2))
        raise SystemExit(0)
    res = asyncio.run(main(ns))
    if ns.json:
        print(json.dumps(res, indent=2))
    else:
        print_table(res)
