"""Races between two store instances on one database (two processes, as far as the
database can tell): on PostgreSQL two PostgresStores with their own pools, on SQLite two
SqliteStores on one file. What one does must never be undone or repeated by the other."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from nexio_lite.models import Claim, IdempotencyState, JobStatus, NewJob
from nexio_lite.store.base import Store
from tests.store.conftest import MakeStore

NOW = 1_750_000_000_000
DAY = 86_400_000
URL = "https://hooks.example.com/x"


@contextlib.asynccontextmanager
async def opened(make: MakeStore, n: int = 2) -> AsyncIterator[list[Store]]:
    stores = [make() for _ in range(n)]
    for s in stores:
        await s.open()
    try:
        yield stores
    finally:
        for s in stores:
            await s.close()


def _job(i: int, url: str | None = None) -> NewJob:
    return NewJob(id=f"eval_{i:020d}", org_id="acme", type="evaluation", request="{}",
                  created_at=NOW + i, webhook_url=url)  # fmt: skip


async def _claim_all(store: Store, found: list[str]) -> None:
    while claims := await store.claim(5, 30_000, NOW):
        found.extend(c.job.id for c in claims)


async def test_two_stores_claiming_at_once_never_hand_out_a_job_twice(
    make_store: MakeStore,
) -> None:
    async with opened(make_store) as (a, b):
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        await asyncio.gather(*(a.enqueue(_job(i)) for i in range(200)))
        found: list[str] = []
        await asyncio.gather(*(_claim_all(s, found) for s in (a, b, a, b, a, b)))
        assert len(found) == len(set(found)) == 200
        jobs = await b.get_jobs(found)
        assert {j.attempts for j in jobs.values()} == {1}
        assert await a.count_jobs("processing") == 200


async def test_a_job_reaped_by_one_store_cannot_be_completed_by_its_old_holder(
    make_store: MakeStore,
) -> None:
    async with opened(make_store) as (a, b):
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        for i in range(20):
            await a.enqueue(_job(i, URL))
        old = await a.claim(20, 1_000, NOW)
        report = await b.reap(NOW + 2_000, max_attempts=3, deliver_at=NOW + 2_000)
        assert len(report.requeued) == 20
        new = await b.claim(20, 30_000, NOW + 2_001)
        results = await asyncio.gather(
            *(a.complete(c, '{"by":"a"}', None, NOW + 2_002, NOW + 2_002) for c in old),
            *(b.complete(c, '{"by":"b"}', None, NOW + 2_002, NOW + 2_002) for c in new),
        )
        assert results == [False] * 20 + [True] * 20
        jobs = await a.get_jobs([c.job.id for c in old])
        outcome = {(j.status, j.result) for j in jobs.values()}
        assert outcome == {(JobStatus.COMPLETED, '{"by":"b"}')}
        assert await a.count_deliveries() == 20  # one each: the refused completions wrote none


async def test_a_completion_racing_the_reaper_either_wins_or_is_refused(
    make_store: MakeStore,
) -> None:
    """The holder completes while the other store reaps the same expired leases: each
    job ends either completed by its holder (and not requeued) or requeued (and the
    completion refused), never both."""
    async with opened(make_store) as (a, b):
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        await asyncio.gather(*(a.enqueue(_job(i)) for i in range(50)))
        held = await a.claim(50, 1_000, NOW)
        done, report = await asyncio.gather(
            asyncio.gather(*(a.complete(c, "{}", None, NOW + 2_000, NOW) for c in held)),
            b.reap(NOW + 2_000, max_attempts=3, deliver_at=NOW),
        )
        jobs = await b.get_jobs([c.job.id for c in held])
        for claim, completed in zip(held, done, strict=True):
            job = jobs[claim.job.id]
            requeued = claim.job.id in report.requeued
            assert completed != requeued, claim.job.id
            assert job.status is (JobStatus.COMPLETED if completed else JobStatus.QUEUED)


async def test_concurrent_imports_of_one_pool_get_distinct_consecutive_versions(
    make_store: MakeStore,
) -> None:
    async with opened(make_store) as (a, b):
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        common = {"generator": "g", "size": 1, "as_of": "2025-06-30", "sha256": "x", "now": NOW}
        made = await asyncio.gather(
            *(s.add_pool_version("acme", "p", blob=f"{i}\n".encode(), **common)
              for i, s in enumerate([a, b] * 5))
        )  # fmt: skip
        assert sorted(v.version for v in made) == list(range(1, 11))
        current = await b.current_pool("acme", "p")
        assert current is not None
        assert current.version == 10
        for i, v in enumerate(made):
            blob = await a.pool_blob("acme", "p", v.version)
            assert blob == f"{i}\n".encode()


async def _submit(store: Store, key: str, n: int) -> tuple[str, str | None]:
    """POST /api/v1/jobs with an Idempotency-Key, as api/jobs.py does it."""
    claim = await store.begin_idempotent("acme", key, "hash", NOW, DAY, 60_000)
    if claim.state is IdempotencyState.FRESH:
        job = _job(n)
        await store.enqueue(job, (key, f'{{"eval_id":"{job.id}"}}'))
        return "created", job.id
    return claim.state.value, claim.job_id


async def test_two_idempotent_submits_with_one_key_make_one_job(make_store: MakeStore) -> None:
    async with opened(make_store) as (a, b):
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        for k in range(10):
            key = f"k{k}"
            outcomes = await asyncio.gather(_submit(a, key, 2 * k), _submit(b, key, 2 * k + 1))
            created = [job_id for state, job_id in outcomes if state == "created"]
            assert len(created) == 1, outcomes
            assert {state for state, _ in outcomes} <= {"created", "in_progress", "replay"}
            replay = await b.begin_idempotent("acme", f"k{k}", "hash", NOW + 1, DAY, 60_000)
            assert (replay.state, replay.job_id) == (IdempotencyState.REPLAY, created[0])
        assert await a.count_jobs() == 10


# ---- wake-ups ------------------------------------------------------------------------


class Heard:
    """A subscriber that records what it was told, and when."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, list[str]]] = []
        self.changed = asyncio.Event()

    def __call__(self, ids: list[str]) -> None:
        self.calls.append((time.monotonic(), ids))
        self.changed.set()

    def ids(self) -> set[str]:
        return {i for _, ids in self.calls for i in ids}

    async def until(self, wanted: set[str], seconds: float) -> float:
        """Seconds until every wanted id was heard (fails after `seconds`)."""
        start = time.monotonic()
        async with asyncio.timeout(seconds):
            while not wanted <= self.ids():
                self.changed.clear()
                await self.changed.wait()
        return time.monotonic() - start


async def test_a_store_hears_its_own_commits_at_once(store: Store) -> None:
    jobs, finished, deliveries = Heard(), Heard(), Heard()
    store.subscribe("jobs", jobs)
    store.subscribe("finished", finished)
    store.subscribe("deliveries", deliveries)
    await store.create_org("acme", "whsec_dGVzdA==", NOW)
    await store.enqueue(_job(1, URL))
    assert [ids for _, ids in jobs.calls] == [[_job(1).id]]
    (claim,) = await store.claim(1, 30_000, NOW)
    assert await store.complete(claim, "{}", None, NOW, NOW)
    assert [ids for _, ids in finished.calls] == [[_job(1).id]]
    assert [ids for _, ids in deliveries.calls] == [[_job(1).id]]


async def test_another_store_enqueueing_wakes_a_subscriber_within_a_second(
    make_postgres_store: MakeStore,
) -> None:
    async with opened(make_postgres_store) as (a, b):
        heard = Heard()
        b.subscribe("jobs", heard)
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        await a.enqueue(_job(1))
        assert await heard.until({_job(1).id}, 1.0) < 1.0
        # b's own enqueue: heard at once, and its own NOTIFY coming back is ignored
        await b.enqueue(_job(2))
        assert heard.calls[-1][1] == [_job(2).id]
        await asyncio.sleep(0.2)
        assert [ids for _, ids in heard.calls] == [[_job(1).id], [_job(2).id]]


async def _claimed(store: Store, ids: list[str]) -> list[Claim]:
    claims = await store.claim(len(ids), 30_000, NOW)
    assert sorted(c.job.id for c in claims) == sorted(ids)
    return claims


async def test_finished_jobs_and_deliveries_reach_the_other_store(
    make_postgres_store: MakeStore,
) -> None:
    async with opened(make_postgres_store) as (a, b):
        finished, deliveries = Heard(), Heard()
        b.subscribe("finished", finished)
        b.subscribe("deliveries", deliveries)
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        await a.enqueue(_job(1, URL))
        await a.enqueue(_job(2))
        one, two = await _claimed(a, [_job(1).id, _job(2).id])
        await a.complete(one, "{}", None, NOW, NOW)
        await a.fail(two, "{}", NOW, NOW)
        await finished.until({_job(1).id, _job(2).id}, 1.0)
        await deliveries.until({_job(1).id}, 1.0)
        assert deliveries.ids() == {_job(1).id}


async def test_hundreds_of_ids_at_once_arrive_split_under_the_payload_limit(
    make_postgres_store: MakeStore,
) -> None:
    async with opened(make_postgres_store) as (a, b):
        heard = Heard()
        b.subscribe("jobs", heard)
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        await asyncio.gather(*(a.enqueue(_job(i)) for i in range(700)))
        await heard.until({_job(i).id for i in range(700)}, 2.0)
        assert len(heard.calls) < 100, "debounced: far fewer notifications than jobs"
