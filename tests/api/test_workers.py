"""The worker pool against a real SQLite store: failures, leases, drain, dead processes."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from nexio_lite.config import WorkerSettings
from nexio_lite.models import Job, JobStatus, NewJob, now_ms
from nexio_lite.procpool import ScoringProcessDied
from nexio_lite.scoring import Scorer
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.supervisor import Supervisor
from nexio_lite.worker import Outcome, WorkerPool


@pytest.fixture
async def store(db_path: str) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.open()
    await s.create_org("acme", "whsec_dGVzdA==", now_ms())
    yield s
    await s.close()


async def _enqueue(store: SqliteStore, n: int = 1) -> list[str]:
    ids = []
    for i in range(n):
        job = NewJob(id=f"job_{i:020d}", org_id="acme", type="test", request="{}",
                     created_at=now_ms())  # fmt: skip
        await store.enqueue(job)
        ids.append(job.id)
    return ids


async def _until(store: SqliteStore, job_id: str, *statuses: JobStatus) -> Job:
    for _ in range(500):
        job = await store.get_job("acme", job_id)
        assert job is not None
        if job.status in statuses:
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"{job_id} never reached {statuses}: {job}")


@pytest.fixture
async def sup() -> AsyncIterator[Supervisor]:
    supervisor = Supervisor()
    yield supervisor
    await supervisor.stop(1)


async def _stop(pool: WorkerPool, sup: Supervisor, grace: float) -> None:
    await sup.stop(1)
    await pool.drain(grace)


def _settings(**kw: float) -> WorkerSettings:
    base = {"concurrency": 2, "lease_seconds": 30.0, "max_attempts": 3,
            "reap_interval_seconds": 5.0}  # fmt: skip
    base.update(kw)
    return WorkerSettings(**base)  # type: ignore[arg-type]


async def test_pipeline_exception_fails_the_job_with_a_structured_error(
    store: SqliteStore, sup: Supervisor
) -> None:
    async def broken(job: Job) -> Outcome:
        raise ZeroDivisionError("boom")

    pool = WorkerPool(store, {"test": broken}, _settings())
    with capture_logs() as logs:
        await pool.start(sup)
        (job_id,) = await _enqueue(store)
        pool.notify()
        job = await _until(store, job_id, JobStatus.FAILED)
        await _stop(pool, sup, 1)
    assert job.error is not None
    assert json.loads(job.error) == {
        "code": "pipeline_error",
        "message": "The evaluation failed inside the pipeline",
        "details": {"exception": "ZeroDivisionError"},
    }
    errors = [e for e in logs if e["event"] == "job_error"]
    assert errors
    assert errors[0]["job_id"] == job_id
    assert [e["job_id"] for e in logs if e["event"] == "job_failed"] == [job_id]


async def test_new_job_wakes_an_idle_worker_at_once(store: SqliteStore, sup: Supervisor) -> None:
    async def quick(job: Job) -> Outcome:
        return Outcome('{"ok":true}')

    pool = WorkerPool(store, {"test": quick}, _settings())
    await pool.start(sup)
    await asyncio.sleep(0.05)  # the dispatcher is asleep on its event, not polling
    (job_id,) = await _enqueue(store)
    pool.notify()
    job = await _until(store, job_id, JobStatus.COMPLETED)
    await _stop(pool, sup, 1)
    assert job.result == '{"ok":true}'


async def test_heartbeat_keeps_a_long_job_from_being_reaped(
    store: SqliteStore, sup: Supervisor
) -> None:
    async def slow(job: Job) -> Outcome:
        await asyncio.sleep(1.0)
        return Outcome("{}")

    pool = WorkerPool(store, {"test": slow}, _settings(lease_seconds=0.3,
                                                       reap_interval_seconds=0.05))  # fmt: skip
    await pool.start(sup)
    (job_id,) = await _enqueue(store)
    pool.notify()
    job = await _until(store, job_id, JobStatus.COMPLETED)
    await _stop(pool, sup, 1)
    assert job.attempts == 1


async def test_drain_releases_jobs_that_outlive_the_grace_period(
    store: SqliteStore, sup: Supervisor
) -> None:
    started = asyncio.Event()

    async def stuck(job: Job) -> Outcome:
        started.set()
        await asyncio.sleep(60)
        return Outcome("{}")

    pool = WorkerPool(store, {"test": stuck}, _settings())
    await pool.start(sup)
    (job_id,) = await _enqueue(store)
    pool.notify()
    await asyncio.wait_for(started.wait(), 5)
    await _stop(pool, sup, 0.1)
    job = await store.get_job("acme", job_id)
    assert job is not None
    assert (job.status, job.claim_token) == (JobStatus.QUEUED, None)


async def test_dead_scoring_process_is_retried_then_given_up(
    store: SqliteStore, sup: Supervisor
) -> None:
    async def dies(job: Job) -> Outcome:
        raise ScoringProcessDied("the scoring process died during the call")

    pool = WorkerPool(store, {"test": dies}, _settings(max_attempts=2))
    await pool.start(sup)
    (job_id,) = await _enqueue(store)
    pool.notify()
    job = await _until(store, job_id, JobStatus.FAILED)
    await _stop(pool, sup, 1)
    assert job.attempts == 2
    assert json.loads(job.error or "{}")["code"] == "attempts_exhausted"


async def test_scorer_replaces_a_process_pool_whose_process_died(
    store: SqliteStore, sup: Supervisor
) -> None:
    scorer = Scorer(store, processes=1)
    try:
        with pytest.raises(ScoringProcessDied):
            await scorer._call(functools.partial(os._exit, 3))
        assert await scorer._call(functools.partial(sum, [1, 2])) == 3
    finally:
        scorer.close()


async def test_a_worker_with_one_job_in_flight_never_holds_its_completion(
    store: SqliteStore, sup: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One slot, instant jobs: each completion is the only one in flight, and the next
    job waits on it, so the store must not hold it back for others (`more_coming`)."""
    from nexio_lite.store.sqlite import core

    monkeypatch.setattr(core, "LINGER_SECONDS", 30.0)

    async def instant(job: Job) -> Outcome:
        return Outcome(result="{}")

    ids = await _enqueue(store, 20)
    pool = WorkerPool(store, {"test": instant}, _settings(concurrency=1))
    await pool.start(sup)
    for job_id in ids:
        await _until(store, job_id, JobStatus.COMPLETED)
    assert store._writer is not None
    assert store._writer.lingered == 0
    await _stop(pool, sup, 1)
