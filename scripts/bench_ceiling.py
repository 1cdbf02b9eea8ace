"""The pipeline-only ceiling: the profile mix of the end-to-end phase scored by as many
processes as the service has scoring processes, with no queue, no HTTP and no storage.

Each process is spawned (as the service's scoring processes are) and prepares the demo
pool once, as a scoring process prepares a pool version: the generator's 1,847 carriers
(`generate_pool()`, the pool `Admin.demo_pool` stores for the served benchmark) as their
canonical JSONL, parsed, prepared, then `gc.collect()` and `gc.freeze()`. It then scores
the request bodies it is sent, one chunk at a time over its own pipe: `load_request`, then
`evaluate(..., clock=time.perf_counter_ns)` inside `gc_paused()`, as `scoring.run_evaluation`
does; the candidates' JSON bytes are produced and neither compressed nor stored.

Every process has two chunks in flight, so it never waits for its next one, and a chunk is
`CHUNK` evaluations (~15 ms of work), so the pipes cost well under 1 % of the time: the
figure is the pipeline's own throughput, evaluations over the wall time from the first
chunk sent to the last result received. Bounded in count (the bodies given) and in time.

Also here: `prepare_seconds`, the time a fresh process takes to read and prepare a stored
pool version from its blob (what a scoring process does before a new pool's first job).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import gc
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from nexio_lite.models import PoolVersion
from nexio_lite.verticals.carriers.carriers_io import parse_pool_file
from nexio_lite.verticals.carriers.evaluate import evaluate
from nexio_lite.verticals.carriers.gcpause import gc_paused
from nexio_lite.verticals.carriers.pool import demo_pool_meta, generate_pool, serialize_jsonl
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.request import load_request
from nexio_lite.verticals.carriers.schema import PoolMeta
from nexio_lite.verticals.carriers.stored import read_stored_pool

CHUNK = 64  # evaluations per message
IN_FLIGHT = 2  # chunks sent ahead to each process
READY_SECONDS = 120.0  # spawn + import + prepare the demo pool, on a busy machine
DEADLINE_SECONDS = 300.0  # one batch of bodies, at most

Body = dict[str, Any]


# ---- in each ceiling process --------------------------------------------------------------


def prepare_demo_pool() -> PreparedPool:
    """The demo pool as a scoring process holds it: prepared from its canonical JSONL (the
    bytes the store keeps), the collector then kept from walking it again."""
    carriers = parse_pool_file(serialize_jsonl(generate_pool()), "jsonl")
    prepared = prepare_pool(demo_pool_meta(carriers), carriers)
    del carriers
    gc.collect()
    gc.freeze()
    return prepared


def score(pool: PreparedPool, bodies: Sequence[Body]) -> tuple[int, int, int]:
    """Score each body on `pool` as a scoring process does (no compression, no storage):
    (evaluations, bytes of candidates JSON produced, CPU ns of this process)."""
    cpu0 = time.process_time_ns()
    produced = 0
    for body in bodies:
        request = load_request(body)
        with gc_paused():
            ev = evaluate(pool, request.profile, request.options, clock=time.perf_counter_ns)
        produced += len(ev.candidates_json)
    return len(bodies), produced, time.process_time_ns() - cpu0


def _serve(conn: Connection) -> None:
    """A ceiling process: prepare the pool, say ("ready", seconds it took), then answer each
    chunk of bodies with `score`'s figures until it receives None."""
    t = time.perf_counter()
    pool = prepare_demo_pool()
    conn.send(("ready", time.perf_counter() - t))
    while (chunk := conn.recv()) is not None:
        conn.send(score(pool, chunk))


# ---- the driving process ------------------------------------------------------------------


@contextlib.contextmanager
def _processes(count: int) -> Iterator[tuple[list[Connection], list[float]]]:
    """`count` spawned ceiling processes with their pool prepared: (their pipes, the
    seconds each took to prepare). Stopped on the way out."""
    ctx = multiprocessing.get_context("spawn")
    conns: list[Connection] = []
    procs: list[Any] = []
    try:
        for _ in range(count):
            parent, child = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=_serve, args=(child,), name="bench-ceiling", daemon=True)
            proc.start()
            child.close()
            conns.append(parent)
            procs.append(proc)
        prepared = []
        for conn in conns:
            if not conn.poll(READY_SECONDS):
                raise RuntimeError(f"a ceiling process was not ready in {READY_SECONDS:.0f} s")
            tag, seconds = conn.recv()
            assert tag == "ready", tag
            prepared.append(seconds)
        yield conns, prepared
    finally:
        for conn in conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in conns:
            conn.close()


def _drive(conns: list[Connection], bodies: Sequence[Body], chunk: int) -> tuple[int, int, int]:
    """Score `bodies` on the processes behind `conns`, `IN_FLIGHT` chunks ahead on each:
    (evaluations, candidates bytes, CPU ns of the processes)."""
    chunks = iter([bodies[i : i + chunk] for i in range(0, len(bodies), chunk)])
    outstanding = dict.fromkeys(conns, 0)
    totals = [0, 0, 0]

    def feed(conn: Connection) -> None:
        nxt = next(chunks, None)
        if nxt is not None:
            conn.send(nxt)
            outstanding[conn] += 1

    for conn in conns:
        for _ in range(IN_FLIGHT):
            feed(conn)
    stop_at = time.perf_counter() + DEADLINE_SECONDS
    while any(outstanding.values()):
        left = stop_at - time.perf_counter()
        if left <= 0:
            raise RuntimeError(f"the ceiling's evaluations took over {DEADLINE_SECONDS:.0f} s")
        for conn in wait([c for c, n in outstanding.items() if n], timeout=left):
            assert isinstance(conn, Connection)
            try:
                figures = conn.recv()
            except EOFError:
                raise RuntimeError("a ceiling process died") from None
            outstanding[conn] -= 1
            totals = [a + b for a, b in zip(totals, figures, strict=True)]
            feed(conn)
    return totals[0], totals[1], totals[2]


def pipeline_ceiling(
    bodies: Sequence[Body], processes: int = 2, chunk: int = CHUNK
) -> dict[str, Any]:
    """Evaluations/s of `bodies` scored by `processes` ceiling processes (started for this
    measurement and stopped after it); a warm round of `processes` * 2 chunks first."""
    with _processes(processes) as (conns, prepared):
        _drive(conns, bodies[: processes * chunk * 2], chunk)  # warm
        t0 = time.perf_counter()
        n, produced, cpu_ns = _drive(conns, bodies, chunk)
        elapsed = time.perf_counter() - t0
    return {
        "evals_per_s": round(n / elapsed, 1),
        "evaluations": n,
        "processes": processes,
        "chunk": chunk,
        "cpu_ms_per_eval": round(cpu_ns / n / 1e6, 3),
        "candidates_kb_per_eval": round(produced / n / 1000, 1),
        "prepare_demo_pool_s": round(max(prepared), 2),
    }


def ceiling_targets(r: dict[str, Any]) -> list[tuple[str, float, float]]:
    """The goal that compares end to end with the ceiling, when both were measured."""
    ratio = r.get("ratio_end_to_end_to_pipeline_ceiling")
    if ratio is None:
        return []
    return [("end to end >= 0.6 of the pipeline-only ceiling", ratio, 0.6)]


def ceiling_row(r: dict[str, Any]) -> tuple[str, str]:
    """The table's row for the ceiling, beside (b)."""
    c = r["pipeline_ceiling"]
    return (f"    pipeline-only ceiling, same mix, {c['processes']} processes",
            f"{c['evals_per_s']} evals/s (no queue, HTTP or storage; "
            f"{c['cpu_ms_per_eval']} ms CPU each); (b) is "
            f"{r['ratio_end_to_end_to_pipeline_ceiling']:.2f}x this")  # fmt: skip


# ---- preparing a stored pool ------------------------------------------------------------


def _timed_prepare(pool: PoolVersion, blob: bytes) -> dict[str, float]:
    """What `scoring.prepare` does for a version new to its process (`scoring._pool`),
    timed in two parts: reading the blob (`read_stored_pool`: inflate, read and check the
    JSONL) and preparing (prepare_pool, then the freeze); the collection before them,
    which walks only what the process held already, is in neither."""
    meta = PoolMeta(pool_id=pool.pool_id, generator=pool.generator, size=pool.size,
                    as_of=dt.date.fromisoformat(pool.as_of), sha256=pool.sha256)  # fmt: skip
    gc.collect()
    with gc_paused():
        t0 = time.perf_counter()
        carriers, fields = read_stored_pool(blob)
        t1 = time.perf_counter()
        prepared = prepare_pool(meta, carriers, fields)
        del carriers, fields
        gc.freeze()
        t2 = time.perf_counter()
    assert prepared.size == pool.size
    return {"parse_s": t1 - t0, "prepare_s": t2 - t1}


def prepare_seconds(pool: PoolVersion, blob: bytes) -> dict[str, float]:
    """Seconds a fresh spawned process takes to make stored pool version `pool` ready to
    score from its blob, as a scoring process does before the version's first job:
    `parse_s` to read it, then `prepare_s` to prepare it."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        return ex.submit(_timed_prepare, pool, blob).result(timeout=900)
