"""Listing, idempotency keys and maintenance queries: the rest of the Store contract."""

from __future__ import annotations

import pytest

from nexio_lite.models import IdempotencyState, NewJob
from nexio_lite.store.base import Store

NOW = 1_750_000_000_000
DAY = 86_400_000


@pytest.fixture
async def org(store: Store) -> Store:
    await store.create_org("acme", "whsec_dGVzdA==", NOW)
    return store


async def _jobs(store: Store, n: int, job_type: str = "evaluation", at: int = NOW) -> list[str]:
    ids = []
    for i in range(n):
        job = NewJob(id=f"{job_type[:4]}_{at + i:020d}", org_id="acme", type=job_type,
                     request="{}", created_at=at + i)  # fmt: skip
        await store.enqueue(job)
        ids.append(job.id)
    return ids


async def test_list_is_newest_first_with_filters_and_pages(org: Store) -> None:
    evals = await _jobs(org, 3)
    metrics = await _jobs(org, 1, "metrics", NOW + 10)
    page = await org.list_jobs("acme", limit=2)
    assert [j.id for j in page] == [metrics[0], evals[2]]
    rest = await org.list_jobs("acme", limit=10, before_seq=page[-1].seq)
    assert [j.id for j in rest] == [evals[1], evals[0]]
    assert [j.id for j in await org.list_jobs("acme", limit=10, job_type="metrics")] == metrics
    (claimed,) = await org.claim(1, 30_000, NOW)
    listed = await org.list_jobs("acme", limit=10, status="processing")
    assert [j.id for j in listed] == [claimed.job.id]
    assert await org.list_jobs("other", limit=10) == []


async def test_idempotency_key_life_cycle(org: Store) -> None:
    take = await org.begin_idempotent("acme", "k", "h1", NOW, DAY, 60_000)
    assert take.state is IdempotencyState.FRESH
    busy = await org.begin_idempotent("acme", "k", "h1", NOW + 1, DAY, 60_000)
    assert busy.state is IdempotencyState.IN_PROGRESS
    other = await org.begin_idempotent("acme", "k", "h2", NOW + 1, DAY, 60_000)
    assert other.state is IdempotencyState.REUSED
    job = NewJob(id="eval_00000000000000000001", org_id="acme", type="evaluation",
                 request="{}", created_at=NOW)  # fmt: skip
    await org.enqueue(job, ("k", '{"eval_id":"eval_00000000000000000001"}'))
    replay = await org.begin_idempotent("acme", "k", "h1", NOW + 2, DAY, 60_000)
    assert (replay.state, replay.job_id) == (IdempotencyState.REPLAY, job.id)
    assert replay.response == '{"eval_id":"eval_00000000000000000001"}'
    # After 24 h the key is forgotten: the same key starts afresh.
    later = await org.begin_idempotent("acme", "k", "h2", NOW + DAY + 1, DAY, 60_000)
    assert later.state is IdempotencyState.FRESH


async def test_stale_and_abandoned_keys_are_taken_over(org: Store) -> None:
    await org.begin_idempotent("acme", "crashed", "h", NOW, DAY, 60_000)
    stale = await org.begin_idempotent("acme", "crashed", "h", NOW + 60_001, DAY, 60_000)
    assert stale.state is IdempotencyState.FRESH
    await org.abandon_idempotent("acme", "crashed")
    again = await org.begin_idempotent("acme", "crashed", "other", NOW + 60_002, DAY, 60_000)
    assert again.state is IdempotencyState.FRESH


async def test_expired_keys_are_purged(org: Store) -> None:
    await org.begin_idempotent("acme", "a", "h", NOW, DAY, 60_000)
    await org.begin_idempotent("acme", "b", "h", NOW + DAY, DAY, 60_000)
    assert await org.purge_idempotency(NOW + DAY + 1) == 1


async def test_sweep_counts_then_deletes_only_old_terminal_evaluations(org: Store) -> None:
    old = await _jobs(org, 3)
    await _jobs(org, 1, "metrics", NOW + 5)
    claims = await org.claim(10, 30_000, NOW)
    for c in claims:
        await org.complete(c, "{}", None, NOW + 10, NOW + 10)
    young = await _jobs(org, 1, at=NOW + 20)
    (c,) = await org.claim(1, 30_000, NOW + 20)
    await org.complete(c, "{}", None, NOW + 5 * DAY, NOW + 5 * DAY)
    await _jobs(org, 1, at=NOW + 30)  # queued: never swept
    cutoff = NOW + DAY
    counted = await org.count_sweepable("acme", cutoff)
    assert (counted.scanned, counted.affected) == (4, 3)
    assert await org.delete_swept("acme", cutoff, 2) == 2
    assert await org.delete_swept("acme", cutoff, 2) == 1
    assert await org.delete_swept("acme", cutoff, 2) == 0
    assert [await org.get_job("acme", i) for i in old] == [None, None, None]
    assert await org.get_job("acme", young[0]) is not None
    assert await org.count_jobs() == 3  # the metrics job, the young one, the queued one


async def test_metrics_summarise_the_window(org: Store) -> None:
    await _jobs(org, 4)
    claims = await org.claim(3, 30_000, NOW + 100)
    for i, c in enumerate(claims):
        await org.complete(c, "{}", None, NOW + 100 + (i + 1) * 10, NOW)
    m = await org.job_metrics("acme", NOW - 1)
    assert m["jobs_by_status"] == {"queued": 1, "processing": 0, "completed": 3, "failed": 0}
    assert (m["duration_ms_p50"], m["duration_ms_p95"]) == (20, 30)
    assert m["webhook_success_rate"] is None
    assert await org.list_org_ids() == ["acme"]
    assert await org.has_active_job("acme", "evaluation")
    assert not await org.has_active_job("acme", "decay_sweep")
