"""Scoring deadlines seen from the worker and the API: leases of wedged jobs run out, a
timed-out or dead scoring call retries its job, and a trace that meets one answers 503."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexio_lite.api.context import SERVICES
from nexio_lite.config import WorkerSettings
from nexio_lite.models import Job, JobStatus, NewJob, now_ms
from nexio_lite.procpool import ScoringTimeout
from nexio_lite.scoring import Scorer
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.supervisor import Supervisor
from nexio_lite.worker import Outcome, WorkerPool

from .conftest import WorldFactory


@pytest.fixture
async def store(db_path: str) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.open()
    await s.create_org("acme", "whsec_dGVzdA==", now_ms())
    yield s
    await s.close()


@pytest.fixture
async def sup() -> AsyncIterator[Supervisor]:
    supervisor = Supervisor()
    yield supervisor
    await supervisor.stop(1)


async def _enqueue_one(store: SqliteStore) -> str:
    job = NewJob(id=f"job_{1:020d}", org_id="acme", type="test", request="{}",
                 created_at=now_ms())  # fmt: skip
    await store.enqueue(job)
    return job.id


async def _until(store: SqliteStore, job_id: str, status: JobStatus, seconds: float) -> Job:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        job = await store.get_job("acme", job_id)
        assert job is not None
        if job.status is status:
            return job
        assert loop.time() < deadline, f"{job_id} never reached {status}: {job}"
        await asyncio.sleep(0.02)


async def test_a_wedged_job_is_not_renewed_past_its_deadline(
    store: SqliteStore, sup: Supervisor
) -> None:
    async def wedged(job: Job) -> Outcome:
        await asyncio.sleep(60)
        return Outcome("{}")

    settings = WorkerSettings(concurrency=1, lease_seconds=0.3, max_attempts=1,
                              reap_interval_seconds=0.05, job_timeout_seconds=0.5)  # fmt: skip
    pool = WorkerPool(store, {"test": wedged}, settings)
    await pool.start(sup)
    job_id = await _enqueue_one(store)
    pool.notify()
    # Renewed for 0.5 s + one heartbeat, then the lease (0.3 s) runs out and is reaped.
    job = await _until(store, job_id, JobStatus.FAILED, seconds=5)
    await sup.stop(1)
    await pool.drain(0.1)
    assert json.loads(job.error or "{}")["code"] == "attempts_exhausted"


async def test_a_timed_out_scoring_call_retries_the_job_then_gives_up(
    store: SqliteStore, sup: Supervisor
) -> None:
    async def times_out(job: Job) -> Outcome:
        raise ScoringTimeout("the scoring call did not finish in 60.0 s")

    settings = WorkerSettings(concurrency=1, max_attempts=2)
    pool = WorkerPool(store, {"test": times_out}, settings)
    await pool.start(sup)
    job_id = await _enqueue_one(store)
    pool.notify()
    job = await _until(store, job_id, JobStatus.FAILED, seconds=5)
    await sup.stop(1)
    await pool.drain(0.1)
    assert job.attempts == 2
    error = json.loads(job.error or "{}")
    assert error["code"] == "attempts_exhausted"
    assert "did not finish" in error["details"]["reason"]


async def test_a_job_past_its_deadline_is_not_sent_to_a_scoring_process(
    store: SqliteStore,
) -> None:
    scorer = Scorer(store, processes=1, job_timeout_seconds=1.0)
    now = now_ms()
    job = Job(seq=1, id="job_1", org_id="acme", type="evaluation",
              status=JobStatus.PROCESSING, request="{}", created_at=now - 5000,
              updated_at=now - 2000, started_at=now - 2000, pool_id="carriers:all",
              pool_version=1)  # fmt: skip
    scorer._pools[("acme", "carriers:all", 1)] = object()  # type: ignore[assignment]
    try:
        with pytest.raises(ScoringTimeout):
            await scorer.run_job(job)
        assert scorer.health().pids == ()  # no process was started for it
    finally:
        scorer.close()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


async def test_a_trace_that_meets_a_stuck_scoring_process_answers_503(
    make_world: WorldFactory,
) -> None:
    world = await make_world(workers={"processes": 1, "job_timeout_seconds": 3.0})
    resp = await world.submit()
    job = await world.wait_terminal((await resp.json())["eval_id"], timeout=30)
    assert job["status"] == "completed"
    scorer = world.client.app[SERVICES].trace.__self__  # type: ignore[union-attr]
    (pid,) = scorer.health().pids
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(100):
            if _state(pid) == "T":
                break
            await asyncio.sleep(0.02)
        get = world.client.get(f"/traces/{job['eval_id']}", headers=world.headers("tracer"))
        resp = await asyncio.wait_for(get, 10)
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "unavailable"
        assert int(resp.headers["Retry-After"]) >= 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
