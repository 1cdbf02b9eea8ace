"""`queue_stats`: the whole queue as the metrics gauges show it (every backend)."""

from __future__ import annotations

from nexio_lite.models import DECAY_SWEEP, EVALUATION, METRICS, NewJob, QueueStats
from nexio_lite.store.base import Store

from .conftest import MakeStore

NOW = 1_750_000_000_000


def _job(i: int, job_type: str = EVALUATION, org: str = "acme") -> NewJob:
    prefix = "eval_" if job_type == EVALUATION else "job_"
    return NewJob(id=f"{prefix}{i:020d}", org_id=org, type=job_type, request="{}",
                  created_at=NOW + i, webhook_url="https://hooks.example/x")  # fmt: skip


async def test_an_empty_database_has_an_empty_queue(store: Store) -> None:
    assert await store.queue_stats(NOW) == QueueStats(jobs={}, queue_lag_ms=0,
                                                      deliveries_pending=0)  # fmt: skip


async def test_jobs_by_type_and_status_lag_and_pending_deliveries(store: Store) -> None:
    for org in ("acme", "other"):
        await store.create_org(org, "whsec_dGVzdA==", NOW)
    for i in range(5):
        await store.enqueue(_job(i, org="acme" if i % 2 else "other"))
    await store.enqueue(_job(10, DECAY_SWEEP))
    await store.enqueue(_job(11, METRICS, org="other"))
    claims = await store.claim(2, 30_000, NOW + 100)  # the two oldest evaluations
    assert [c.job.id for c in claims] == ["eval_00000000000000000000", "eval_00000000000000000001"]
    assert await store.complete(claims[0], "{}", None, NOW + 200, NOW + 200)

    stats = await store.queue_stats(NOW + 1_002)
    assert stats.jobs == {
        (EVALUATION, "queued"): 3,
        (EVALUATION, "processing"): 1,
        (DECAY_SWEEP, "queued"): 1,
        (METRICS, "queued"): 1,
    }
    assert stats.queue_lag_ms == 1_000  # the head of the queue: eval 2, created at NOW + 2
    assert stats.deliveries_pending == 1  # the completed job's webhook

    more = await store.claim(10, 30_000, NOW + 300)
    assert len(more) == 5
    stats = await store.queue_stats(NOW + 2_000)
    assert stats.queue_lag_ms == 0
    assert stats.jobs == {(EVALUATION, "processing"): 4, (DECAY_SWEEP, "processing"): 1,
                          (METRICS, "processing"): 1}  # fmt: skip


async def test_every_process_sees_the_whole_queue(make_store: MakeStore) -> None:
    first, second = make_store(), make_store()
    await first.open()
    await second.open()
    try:
        await first.create_org("acme", "whsec_dGVzdA==", NOW)
        await first.enqueue(_job(1))
        stats = await second.queue_stats(NOW + 11)
        assert stats.jobs == {(EVALUATION, "queued"): 1}
        assert stats.queue_lag_ms == 10
    finally:
        await first.close()
        await second.close()
