"""Running the pipeline for the service: where scoring happens and what it costs.

Scoring is CPU work, so it runs in a small pool of worker processes (the event loop
never waits on it, and the second core does useful work). Each process keeps the
prepared pools it has seen (per immutable pool version), so a version is parsed and
precomputed once per process, not once per job. The functions here take and return
plain strings, so what crosses the process boundary is small and cheap to pickle.

The audit trace is not stored: it is recomputed on demand from the stored request, the
immutable pool version and the stored stage timings (the pipeline is deterministic).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gc
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from nexio_lite import packing
from nexio_lite.jobtypes import job_type
from nexio_lite.jsontext import dumps
from nexio_lite.logs import get_logger
from nexio_lite.models import Job, PoolVersion, iso_ms, now_ms
from nexio_lite.procpool import InProcessPool, PoolHealth, ProcPool
from nexio_lite.store.base import Store
from nexio_lite.trace_output import trace_bytes
from nexio_lite.trace_page import TracePage
from nexio_lite.verticals.carriers.evaluate import evaluate
from nexio_lite.verticals.carriers.gcpause import gc_paused
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.request import load_request
from nexio_lite.verticals.carriers.schema import Options, PoolMeta, Profile
from nexio_lite.verticals.carriers.stored import read_stored_pool
from nexio_lite.verticals.package import run_package
from nexio_lite.verticals.screen import Rulebook, load_rulebook, load_screen_request, screen
from nexio_lite.worker import JobFailure, Outcome

T = TypeVar("T")
log = get_logger("nexio_lite.scoring")

_CACHE_SIZE = 8
_prepared: OrderedDict[tuple[str, str, int], PreparedPool] = OrderedDict()


class PoolNotLoaded(Exception):
    """Raised in a scoring process asked to use a pool version it has not prepared,
    without the pool's data: the server sends the call again with the data."""


def _pool(pool: PoolVersion, blob: bytes | None) -> PreparedPool:
    """The prepared pool version, from this process's cache, or prepared from `blob`
    (as the store keeps it: `stored.pack_stored_pool`)."""
    key = (pool.org_id, pool.pool_id, pool.version)
    found = _prepared.get(key)
    if found is not None:
        _prepared.move_to_end(key)
        return found
    if blob is None:
        raise PoolNotLoaded(f"{pool.org_id}/{pool.pool_id} v{pool.version}")
    meta = PoolMeta(
        pool_id=pool.pool_id,
        generator=pool.generator,
        size=pool.size,
        as_of=dt.date.fromisoformat(pool.as_of),
        sha256=pool.sha256,
    )
    gc.collect()  # the garbage so far, while there is little to walk (frozen pools are not)
    with gc_paused():  # reading and preparing make many objects and no cycles
        carriers, fields = read_stored_pool(blob)
        del blob
        prepared = prepare_pool(meta, carriers, fields)
        del carriers, fields
        # The prepared pool lives on: keep the collector from ever walking it (frozen with
        # no collection in between, which would walk all of it once more).
        gc.freeze()
    _prepared[key] = prepared
    while len(_prepared) > _CACHE_SIZE:
        _prepared.popitem(last=False)
    return prepared


class RulebookNotLoaded(Exception):
    """Raised in a scoring process asked to screen against a rule book version it has not
    loaded, without its data: the server sends the call again with the data."""


_rulebooks: OrderedDict[tuple[str, str, int], Rulebook] = OrderedDict()


def _rulebook(key: tuple[str, str, int], data: bytes | None) -> Rulebook:
    """The parsed rule book version `key` (org, rule book id, version), from this process's
    cache, or parsed from `data` (its canonical JSON, as the store keeps it)."""
    found = _rulebooks.get(key)
    if found is not None:
        _rulebooks.move_to_end(key)
        return found
    if data is None:
        raise RulebookNotLoaded(f"{key[0]}/{key[1]} v{key[2]}")
    parsed = _rulebooks[key] = load_rulebook(data)
    while len(_rulebooks) > _CACHE_SIZE:
        _rulebooks.popitem(last=False)
    return parsed


def run_screen(
    key: tuple[str, str, int], request_json: str, job_id: str, data: bytes | None = None
) -> tuple[str, str]:
    """Screen one stored `screen_analysis` request against rule book version `key`.
    Returns JSON texts: the result (SCREEN.md §4, the envelope's `result`: see
    `jobtypes`) and the §5 trace (small: one entry per rule), which the job keeps."""
    request = load_screen_request(json.loads(request_json))
    rulebook = _rulebook(key, data)
    outcome = screen(request, rulebook, version=key[2], job_id=job_id,
                     clock=time.perf_counter_ns, wall_start_ns=time.time_ns())  # fmt: skip
    return dumps(outcome.result), dumps(outcome.trace)


def prepare(pool: PoolVersion, blob: bytes | None) -> int:
    """Prepare a pool version in this process ahead of its first job."""
    return _pool(pool, blob).size


def _inputs(request_json: str) -> tuple[Profile, Options]:
    request = load_request(json.loads(request_json))
    return request.profile, request.options


def _ms(duration_ns: int) -> float:
    return round(duration_ns / 1_000_000, 3)


def _stage(name: str, wall_ns: int, duration_ns: int, n_in: int, n_out: int) -> dict[str, Any]:
    return {
        "name": name,
        "started_at": iso_ms(wall_ns // 1_000_000),
        "duration_ms": _ms(duration_ns),
        "in": n_in,
        "out": n_out,
    }


def run_evaluation(
    pool: PoolVersion, request_json: str, blob: bytes | None = None
) -> tuple[str, bytes, str]:
    """Score one stored request. Returns JSON texts: the result's counts (pool_size,
    filtered, passed, in that order), the ranked candidates (JSON, `packing.pack`ed), and
    the stage timings."""
    wall0, mono0 = time.time_ns(), time.perf_counter_ns()

    def wall(mono: int) -> int:
        return wall0 + (mono - mono0)

    t = time.perf_counter_ns()
    profile, options = _inputs(request_json)
    stages = [_stage("validate", wall(t), time.perf_counter_ns() - t, 1, 1)]
    t = time.perf_counter_ns()
    prepared = _pool(pool, blob)
    stages.append(_stage("load_pool", wall(t), time.perf_counter_ns() - t, pool.size, pool.size))
    with gc_paused():
        ev = evaluate(prepared, profile, options, clock=time.perf_counter_ns)
    for s in ev.stages:
        stages.append(s.to_dict(iso_ms(wall(s.start_ns) // 1_000_000) or "", _ms(s.duration_ns)))
    counts = {"pool_size": ev.pool_size, "filtered": ev.filtered, "passed": ev.passed}
    candidates = packing.pack(ev.candidates_json)  # orjson's bytes
    return dumps(counts), candidates, dumps(stages)


def run_trace(
    pool: PoolVersion,
    request_json: str,
    *,
    eval_id: str,
    created_at: str,
    stages_json: str,
    level: str | TracePage,
    blob: bytes | None = None,
) -> bytes:
    """Recompute the audit trace of a completed evaluation, as bytes ready to send: its
    JSON (exactly the DOMAIN.md §8 record; gzip-compressed for `level` "full", plain for
    "summary") or, for a `TracePage`, that page of the HTML view. Everything heavy
    (building, serializing, compressing, rendering) happens here, in the scoring
    process (`trace_output.trace_bytes`)."""
    profile, options = _inputs(request_json)
    return trace_bytes(
        _pool(pool, blob),
        profile,
        options,
        eval_id=eval_id,
        created_at=created_at,
        stages=json.loads(stages_json),
        view=level,
    )


PARENT_CHECK_SECONDS = 1.0


def exit_with_parent(parent_pid: int) -> None:
    """Run in each scoring process: leave as soon as the server process is gone.

    A server killed with SIGKILL cannot stop its pool. An idle process sees its pipe close
    and leaves, but a busy one would finish its call first (up to a whole pool's
    preparation): a daemon thread notices the parent change and ends the process."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


DEFAULT_JOB_TIMEOUT_SECONDS = 60.0
WARM_TIMEOUT_SECONDS = 900.0  # preparing a 99,999-carrier pool takes ~25 s, more when busy


def _label(pool: PoolVersion) -> str:
    return f"{pool.org_id}/{pool.pool_id} v{pool.version}"


class Scorer:
    """The server side: sends scoring work to the process pool and keeps the event loop free.

    `processes` > 0 uses that many scoring processes (`ProcPool`): a job's scoring must end
    within `job_timeout_seconds` of its claim, or its process is killed and replaced and
    the call raises `ScoringTimeout`; a process that dies raises `ScoringProcessDied` for
    its own call only (both `ScoringUnavailable`: the worker retries the job, a trace
    request answers 503). 0 runs scoring in one background thread of the server process
    (simpler, but it shares the GIL with the event loop, and no deadline is enforced).
    """

    def __init__(
        self,
        store: Store,
        processes: int,
        job_timeout_seconds: float = DEFAULT_JOB_TIMEOUT_SECONDS,
    ) -> None:
        self.store = store
        self.processes = processes
        self.job_timeout = job_timeout_seconds
        self.pool: ProcPool | InProcessPool = (
            ProcPool(processes, timeout=job_timeout_seconds, initializer=exit_with_parent,
                     initargs=(os.getpid(),))
            if processes > 0
            else InProcessPool()
        )  # fmt: skip
        self._pools: dict[tuple[str, str, int], PoolVersion] = {}
        self.preparing: set[str] = set()  # "org/pool v1": pools being prepared at start

    async def _call(
        self, fn: Callable[[], T], seconds: float | None = None, slot: int | None = None
    ) -> T:
        """Run `fn` in a scoring process within `seconds` (the job timeout when None)."""
        return await self.pool.call(fn, seconds=seconds, slot=slot)

    def _seconds_left(self, job: Job) -> float:
        """A job's deadline is `job_timeout_seconds` after its claim (when the worker's
        heartbeat stops renewing its lease too)."""
        if job.started_at is None:
            return self.job_timeout
        return self.job_timeout - (now_ms() - job.started_at) / 1000

    async def _pool_version(self, job: Job) -> PoolVersion:
        if job.pool_id is None or job.pool_version is None:
            raise JobFailure("invalid_job", "The job names no pool version")
        key = (job.org_id, job.pool_id, job.pool_version)
        pool = self._pools.get(key)
        if pool is None:
            pool = await self.store.get_pool_version(*key)
            if pool is None:
                raise JobFailure(
                    "unknown_pool", f"Pool {job.pool_id} version {job.pool_version} is gone"
                )
            self._pools[key] = pool
        return pool

    async def _with_pool(
        self, pool: PoolVersion, call: Callable[..., T], job: Job | None = None
    ) -> T:
        """Run `call` in a scoring process; one that has not prepared `pool` yet asks
        for it (PoolNotLoaded), and the call is sent again with the pool's data, read
        here from the store: scoring processes never open the database themselves."""
        try:
            return await self._call(call, None if job is None else self._seconds_left(job))
        except PoolNotLoaded:
            blob = await self.store.pool_blob(pool.org_id, pool.pool_id, pool.version)
            if blob is None:
                raise JobFailure(
                    "unknown_pool", f"Pool {pool.pool_id} version {pool.version} is gone"
                ) from None
            seconds = None if job is None else self._seconds_left(job)
            return await self._call(functools.partial(call, blob=blob), seconds)

    async def run_job(self, job: Job) -> Outcome:
        pool = await self._pool_version(job)
        call = functools.partial(run_evaluation, pool, job.request)
        result, candidates, stages = await self._with_pool(pool, call, job)
        return Outcome(result, stages, candidates)

    async def run_screen(self, job: Job) -> Outcome:
        """A `screen_analysis` job: screened in a scoring process against the rule book
        version it was accepted with (sent along only to a process that has not parsed
        it yet). Its trace is kept as the job's `stages` (GET /traces/{id})."""
        if job.rulebook_id is None or job.rulebook_version is None:
            raise JobFailure("invalid_job", "The job names no rule book version")
        key = (job.org_id, job.rulebook_id, job.rulebook_version)
        call = functools.partial(run_screen, key, job.request, job.id)
        try:
            result, trace = await self._call(call, self._seconds_left(job))
        except RulebookNotLoaded:
            found = await self.store.rulebook_version(*key)
            if found is None:
                raise JobFailure(
                    "unknown_rulebook",
                    f"Rulebook {job.rulebook_id} version {job.rulebook_version} is gone",
                ) from None
            call = functools.partial(call, data=found[1])
            result, trace = await self._call(call, self._seconds_left(job))
        return Outcome(result, trace)

    async def run_package(self, job: Job) -> Outcome:
        """A job of a packaged type (`JobType.package`): its package's `run`, in a
        scoring process, on the stored request. A trace, when the type keeps one, is
        kept as the job's `stages` (GET /traces/{id})."""
        call = functools.partial(run_package, job_type(job.type).package, job.request, job.id)
        result, trace = await self._call(call, self._seconds_left(job))
        return Outcome(result, trace)

    async def warm(self) -> None:
        """Start the scoring processes and prepare every organization's current pools in
        each, so that the first jobs after a start do not wait for it (~0.6 s). Each
        process prepares one pool at a time (jobs take their turn in between), each within
        `WARM_TIMEOUT_SECONDS`; a failure is logged and left to the first job."""
        pools = [p for org in await self.store.list_org_ids()
                 for p in await self.store.list_pools(org)]  # fmt: skip

        processes = max(1, self.processes)
        pending = {_label(p): processes for p in pools}
        self.preparing.update(pending)

        blobs: dict[str, bytes | None] = {}

        async def blob(p: PoolVersion) -> bytes | None:
            if _label(p) not in blobs:  # read once, sent to each process
                blobs[_label(p)] = await self.store.pool_blob(p.org_id, p.pool_id, p.version)
            return blobs[_label(p)]

        async def warm_process(slot: int) -> None:
            for p in pools:
                try:
                    call = functools.partial(prepare, p, await blob(p))
                    await self._call(call, WARM_TIMEOUT_SECONDS, slot)
                except Exception as exc:
                    log.warning("scoring_warm_failed", slot=slot, pool=p.pool_id,
                                version=p.version, error=repr(exc))  # fmt: skip
                finally:
                    pending[_label(p)] -= 1
                    if not pending[_label(p)]:
                        self.preparing.discard(_label(p))

        try:
            await asyncio.gather(*(warm_process(slot) for slot in range(processes)))
        finally:
            self.preparing.difference_update(pending)
            blobs.clear()
        log.info("scoring_warm", pools=len(pools), processes=self.processes)

    async def trace(self, job: Job, level: str | TracePage) -> bytes:
        pool = await self._pool_version(job)
        call = functools.partial(
            run_trace,
            pool,
            job.request,
            eval_id=job.id,
            created_at=iso_ms(job.created_at) or "",
            stages_json=job.stages or "[]",
            level=level,
        )
        return await self._with_pool(pool, call)

    def health(self) -> PoolHealth:
        """The scoring processes as /readyz can show them (`ok`, alive, busy, restarts)."""
        return self.pool.health()

    def restarts(self) -> dict[str, int]:
        """Scoring processes replaced since start, by reason (`died`, `timeout`)."""
        return self.pool.restarts()

    def check(self) -> dict[str, Any]:
        """The /readyz check: the processes' health, and the pools still being prepared
        at start (jobs on those wait for it; the check stays ok)."""
        health = self.health()
        out = health.to_dict()
        if not health.ok:
            out["error"] = (f"{health.alive} of {len(health.pids)} scoring processes alive, "
                            f"{health.stopped} stopped")  # fmt: skip
        if self.preparing:
            out["preparing"] = sorted(self.preparing)
        return out

    def close(self) -> None:
        """Stop the scoring processes; returns within a few seconds whatever they do."""
        self.pool.close()
